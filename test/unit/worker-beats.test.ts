import t from 'tap';
import { encodeJson, PROTOCOL_VERSION, subjectsFor, WORKER_BEAT_MS } from '../../bus-schemas/index.js';
import { createLogger } from '../../common/logger.js';
import { busCall } from '../../gateway/call/bus-call.js';
import { UNSURE_FOR_MS, WorkerBeats } from '../../gateway/call/worker-beats.js';
import { startWorkerBeat } from '../../workers/worker-beat.js';
import { envelopeFor } from '../helpers/bus-call.js';
import { FakeBus } from '../helpers/fake-bus.js';
import { FakeClock, settle } from '../helpers/fake-clock.js';
import { readAll, testScope } from '../helpers/frames.js';
import { LogSink } from '../helpers/stack.js';

// Both ends of the worker beats (docs/bus.md, "Worker beats"): what a worker publishes, and when
// the gateway's view of an agent's workers says a silent request is still waiting to be read.

const subjects = subjectsFor('agents');
const SILENCE_MS = 6000;

function gateway() {
  const clock = new FakeClock();
  const bus = new FakeBus('gateway', clock);
  const waits: string[] = [];
  const logs = new LogSink();
  const log = createLogger('test', { level: 'warn', destination: logs });
  const options = {
    silenceMs: SILENCE_MS,
    subjects,
    agents: ['testing', 'other'],
    log,
    clock,
    onWait: (agent: string) => waits.push(agent),
  };
  const beats = new WorkerBeats(bus, options);
  const beat = async (agent: string, body: Record<string, unknown>) => {
    bus.publish(subjects.workerBeat(agent), encodeJson({ v: PROTOCOL_VERSION, ...body }));
    await settle();
  };
  /** Both workers beat once: a second of their life. */
  const second = async (...workers: string[]) => {
    await clock.advance(WORKER_BEAT_MS);
    for (const worker of workers) await beat('testing', { worker, connection: 'c1' });
  };
  return { clock, bus, beats, beat, second, waits, logs };
}

t.test('an agent whose workers beat on, unchanged since publishing, is still served', async (t) => {
  const { beats, beat, second, waits } = gateway();
  t.equal(beats.stillServing('testing', beats.generation('testing')), false, 'no worker heard yet');
  await beat('testing', { worker: 'w1', connection: 'c1' });
  const atPublish = beats.generation('testing');
  await beat('testing', { worker: 'w2', connection: 'c1' });
  t.equal(beats.generation('testing'), atPublish, 'a new worker cannot have lost anything: no change');
  for (let s = 0; s < 10; s++) await second('w1', 'w2');
  t.equal(beats.stillServing('testing', atPublish), true, 'the same workers, on the same connections');
  t.same(waits, ['testing'], 'the wait is counted');
  t.equal(beats.stillServing('other', beats.generation('other')), false, "another agent's workers say nothing");
});

t.test('a worker reconnected, left or is silent: no waiting', async (t) => {
  const cases: Array<[string, (g: ReturnType<typeof gateway>) => Promise<void>]> = [
    ['a worker reconnected', (g) => g.beat('testing', { worker: 'w1', connection: 'c2' })],
    ['a worker left', (g) => g.beat('testing', { worker: 'w2', connection: 'c1', leaving: true })],
    [
      'a worker is silent for longer than the silence limit',
      async (g) => {
        for (let s = 0; s < 7; s++) await g.second('w1');
      },
    ],
  ];
  for (const [what, change] of cases) {
    const g = gateway();
    await g.beat('testing', { worker: 'w1', connection: 'c1' });
    await g.beat('testing', { worker: 'w2', connection: 'c1' });
    const atPublish = g.beats.generation('testing');
    await change(g);
    t.equal(g.beats.stillServing('testing', atPublish), false, what);
    t.same(g.waits, [], `${what}: no wait counted`);
  }
});

t.test('while a worker is silent nothing of its agent is waited for; slow, it lost nothing', async (t) => {
  const { beats, beat, second } = gateway();
  await beat('testing', { worker: 'w1', connection: 'c1' });
  await beat('testing', { worker: 'w2', connection: 'c1' });
  const atPublish = beats.generation('testing');
  // w2 freezes (SIGSTOP): nats-server may hand it new requests until its own ping timeout.
  for (let s = 0; s < 7; s++) await second('w1');
  t.equal(beats.stillServing('testing', atPublish), false, 'it may hold the request');
  t.equal(beats.stillServing('testing', beats.generation('testing')), false, 'or one published since');
  for (let s = 0; s < 60; s++) await second('w1');
  t.equal(beats.stillServing('testing', beats.generation('testing')), false, 'still so a minute on');
  await beat('testing', { worker: 'w2', connection: 'c1' });
  t.equal(beats.stillServing('testing', atPublish), true, 'beating again on its connection: it reads them now');

  for (let s = 0; s < UNSURE_FOR_MS / WORKER_BEAT_MS; s++) await second('w1');
  t.equal(beats.stillServing('testing', atPublish), false, 'silent again');
  await second('w1');
  t.equal(beats.stillServing('testing', atPublish), true, 'forgotten after 10 minutes: nats-server dropped it too');
});

t.test(
  'after a worker reconnected, nothing of its agent is waited for until its old connection must be gone',
  async (t) => {
    const { beats, beat, clock } = gateway();
    await beat('testing', { worker: 'w1', connection: 'c1' });
    await beat('testing', { worker: 'w1', connection: 'c2' });
    // nats-server may still route to c1 (half-open: only the worker's side was reset) until its pings fail.
    t.equal(beats.stillServing('testing', beats.generation('testing')), false, 'published after the reconnect');
    await clock.advance(UNSURE_FOR_MS);
    await beat('testing', { worker: 'w1', connection: 'c2' });
    t.equal(beats.stillServing('testing', beats.generation('testing')), true, 'c1 is gone by now');
  },
);

t.test('beats for an agent outside the catalog, or invalid ones, change nothing; one warning', async (t) => {
  const { bus, beats, beat, logs } = gateway();
  await beat('unknown', { worker: 'w1', connection: 'c1' });
  t.equal(beats.stillServing('unknown', beats.generation('unknown')), false);
  bus.publish(subjects.workerBeat('testing'), new TextEncoder().encode('not json'));
  await beat('testing', { worker: 'w1' });
  t.equal(logs.lines.length, 1, 'one warning for both invalid beats');
  t.match(logs.lines[0], { msg: 'ignored an invalid worker beat' });
  t.equal(beats.stillServing('testing', beats.generation('testing')), false, 'no worker counted');
  const otherPrefix = subjectsFor('elsewhere');
  bus.publish(otherPrefix.workerBeat('testing'), encodeJson({ v: PROTOCOL_VERSION, worker: 'w9', connection: 'c' }));
  await settle();
  t.equal(beats.stillServing('testing', beats.generation('testing')), false, "another deployment's beats unheard");
});

t.test('a gateway whose bus refuses the subscription starts without beats, with one warning', async (t) => {
  const bus = new FakeBus('gateway');
  bus.subscribe = () => {
    throw new Error('closed connection');
  };
  const logs = new LogSink();
  const beats = new WorkerBeats(bus, {
    silenceMs: SILENCE_MS,
    subjects,
    agents: ['testing'],
    log: createLogger('test', { destination: logs }),
  });
  t.equal(beats.stillServing('testing', beats.generation('testing')), false, 'silence alone decides');
  t.match(logs.lines, [{ msg: /cannot read worker beats/ }]);
  beats.close();
});

t.test('a worker beats for each of its agents at once and every second, and leaves with a last beat', async (t) => {
  const clock = new FakeClock();
  const bus = new FakeBus('worker', clock);
  const log = createLogger('test', { level: 'silent' });
  const beatSubjects = [subjects.workerBeat('a'), subjects.workerBeat('b')];
  const stop = startWorkerBeat({ bus, subjects: beatSubjects, worker: 'w1', log, clock });
  const sent = () =>
    bus.published.map((m) => ({ subject: m.subject, ...JSON.parse(new TextDecoder().decode(m.data)) }));
  t.same(
    sent().map((m) => m.subject),
    ['_INBOX.gateway.chat.a.alive.agents', '_INBOX.gateway.chat.b.alive.agents'],
    'at start',
  );
  await clock.advance(WORKER_BEAT_MS);
  t.equal(sent().length, 4, 'again a second later');
  const connection = sent()[0].connection;
  t.match(sent(), Array(4).fill({ v: PROTOCOL_VERSION, worker: 'w1', connection }));

  bus.setConnected(false);
  await clock.advance(WORKER_BEAT_MS);
  t.equal(sent().length, 4, 'none while disconnected (nats.js would only buffer them)');
  bus.setConnected(true);
  t.equal(sent().length, 6, 'one at once on reconnecting');
  t.not(sent()[5].connection, connection, 'naming a new connection');

  stop();
  stop();
  t.match(sent().slice(6), [
    { subject: beatSubjects[0], leaving: true },
    { subject: beatSubjects[1], leaving: true },
  ]);
  await clock.advance(5 * WORKER_BEAT_MS);
  t.equal(sent().length, 8, 'nothing after the stop, which ran once');
});

t.test("a call waits on a worker's real beats while its request is unread; its leaving ends the wait", async (t) => {
  const clock = new FakeClock();
  const bus = new FakeBus('gateway', clock);
  const log = createLogger('test', { level: 'silent' });
  const beats = new WorkerBeats(bus, { silenceMs: 600, subjects, agents: ['testing'], log, clock });
  const stop = startWorkerBeat({ bus, subjects: [subjects.workerBeat('testing')], worker: 'w1', log, clock });
  // The worker's subscription: it holds the request unread.
  bus.subscribe('agents.testing.chat', { queue: 'testing', callback: () => {} });
  await settle();
  const envelope = envelopeFor('testing', [{ role: 'user', content: 'hi' }], { timeout_ms: 60_000 });
  const options = { subject: 'agents.testing.chat', cancelSubject: 'c', deadlineGraceMs: 0, cancelGraceMs: 0 };
  const first = readAll(busCall(bus, envelope, { ...options, idleTimeoutMs: 600, beats, clock })(testScope()));
  await clock.advance(20 * 600);
  t.equal(first.ended, false, 'unread for 20 silence limits while the worker beats');
  stop();
  await clock.advance(600);
  await first.finished;
  t.equal(first.error?.code, 'worker_lost', 'the leaving beat ends the wait at the next limit');
});
