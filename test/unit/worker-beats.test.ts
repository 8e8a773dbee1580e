import t from 'tap';
import { encodeJson, PROTOCOL_VERSION, WORKER_BEAT_MS, workerBeatSubject } from '../../bus-schemas/index.js';
import { createLogger } from '../../common/logger.js';
import { WorkerBeats } from '../../gateway/call/worker-beats.js';
import { startWorkerBeat } from '../../workers/worker-beat.js';
import { FakeBus } from '../helpers/fake-bus.js';
import { FakeClock, settle } from '../helpers/fake-clock.js';
import { LogSink } from '../helpers/stack.js';

// Both ends of the worker beats (docs/bus.md, "Worker beats"): what a worker publishes, and when
// the gateway's view of an agent's workers says a silent request is still waiting to be read.

const SILENCE_MS = 6000;

function gateway() {
  const clock = new FakeClock();
  const bus = new FakeBus('gateway', clock);
  const waits: string[] = [];
  const logs = new LogSink();
  const log = createLogger('test', { level: 'warn', destination: logs });
  const beats = new WorkerBeats(bus, { silenceMs: SILENCE_MS, log, clock, onWait: (agent) => waits.push(agent) });
  const beat = async (agent: string, body: Record<string, unknown>) => {
    bus.publish(workerBeatSubject(agent), encodeJson({ v: PROTOCOL_VERSION, ...body }));
    await settle();
  };
  return { clock, bus, beats, beat, waits, logs };
}

t.test('an agent with beating workers and no change since publishing is still served', async (t) => {
  const { beats, beat, clock, waits } = gateway();
  t.equal(beats.stillServing('testing', beats.generation('testing')), false, 'no worker heard yet');
  await beat('testing', { worker: 'w1', connection: 'c1' });
  await beat('testing', { worker: 'w2', connection: 'c1' });
  const atPublish = beats.generation('testing');
  await clock.advance(SILENCE_MS);
  await beat('testing', { worker: 'w1', connection: 'c1' });
  await beat('testing', { worker: 'w2', connection: 'c1' });
  t.equal(beats.stillServing('testing', atPublish), true, 'the same workers, on the same connections');
  t.same(waits, ['testing'], 'the wait is counted');
  t.equal(beats.stillServing('other', atPublish), false, "another agent's workers say nothing of this one");
});

t.test('any change to the workers ends the waiting', async (t) => {
  const cases: Array<[string, (g: ReturnType<typeof gateway>) => Promise<void>]> = [
    ['a worker reconnected', (g) => g.beat('testing', { worker: 'w1', connection: 'c2' })],
    ['a worker left', (g) => g.beat('testing', { worker: 'w2', connection: 'c1', leaving: true })],
    ['a new worker beat', (g) => g.beat('testing', { worker: 'w3', connection: 'c1' })],
    [
      'a worker went silent',
      async (g) => {
        await g.clock.advance(SILENCE_MS + 1);
        await g.beat('testing', { worker: 'w1', connection: 'c1' });
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

t.test('a silent worker is found at the check, without a beat in between', async (t) => {
  const { beats, beat, clock } = gateway();
  await beat('testing', { worker: 'w1', connection: 'c1' });
  const atPublish = beats.generation('testing');
  await clock.advance(SILENCE_MS);
  t.equal(beats.stillServing('testing', atPublish), true, 'heard from within the silence limit');
  await clock.advance(1);
  t.equal(beats.stillServing('testing', atPublish), false, 'not heard from for longer than the limit');
  t.equal(beats.stillServing('testing', beats.generation('testing')), false, 'and it is gone: no workers left');
});

t.test('a short silence limit still allows three beats before a worker counts as gone', async (t) => {
  const clock = new FakeClock();
  const bus = new FakeBus('gateway', clock);
  const beats = new WorkerBeats(bus, { silenceMs: 1000, log: createLogger('test', { level: 'silent' }), clock });
  bus.publish(workerBeatSubject('testing'), encodeJson({ v: PROTOCOL_VERSION, worker: 'w1', connection: 'c1' }));
  await settle();
  const atPublish = beats.generation('testing');
  await clock.advance(3 * WORKER_BEAT_MS);
  t.equal(beats.stillServing('testing', atPublish), true);
});

t.test('an invalid beat is ignored with one warning; a good one after it counts', async (t) => {
  const { bus, beats, beat, logs } = gateway();
  bus.publish(workerBeatSubject('testing'), new TextEncoder().encode('not json'));
  await beat('testing', { worker: 'w1' });
  t.equal(logs.lines.length, 1, 'one warning for both');
  t.match(logs.lines[0], { msg: 'ignored an invalid worker beat' });
  t.equal(beats.generation('testing'), 0, 'neither changed anything');
  await beat('testing', { worker: 'w1', connection: 'c1' });
  t.equal(beats.stillServing('testing', beats.generation('testing')), true);
});

t.test('a worker beats for each of its agents at once and every second, and leaves with a last beat', async (t) => {
  const clock = new FakeClock();
  const bus = new FakeBus('worker', clock);
  const stop = startWorkerBeat({
    bus,
    agents: ['a', 'b'],
    worker: 'w1',
    log: createLogger('test', { level: 'silent' }),
    clock,
  });
  const sent = () =>
    bus.published.map((m) => ({ subject: m.subject, ...JSON.parse(new TextDecoder().decode(m.data)) }));
  t.same(
    sent().map((m) => m.subject),
    ['_INBOX.gateway.chat.a.alive', '_INBOX.gateway.chat.b.alive'],
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
    { subject: '_INBOX.gateway.chat.a.alive', leaving: true },
    { subject: '_INBOX.gateway.chat.b.alive', leaving: true },
  ]);
  await clock.advance(5 * WORKER_BEAT_MS);
  t.equal(sent().length, 8, 'nothing after the stop, which ran once');
});

t.test("the gateway reads a worker's beats over the bus both share", async (t) => {
  const clock = new FakeClock();
  const bus = new FakeBus('gateway', clock);
  const log = createLogger('test', { level: 'silent' });
  const beats = new WorkerBeats(bus, { silenceMs: SILENCE_MS, log, clock });
  const stop = startWorkerBeat({ bus, agents: ['testing'], worker: 'w1', log, clock });
  await settle();
  const atPublish = beats.generation('testing');
  await clock.advance(4 * SILENCE_MS);
  t.equal(beats.stillServing('testing', atPublish), true, 'kept alive by the beats');
  stop();
  await settle();
  t.equal(beats.stillServing('testing', atPublish), false, 'the leaving beat ends it at once');
});

t.test('a gateway whose bus refuses the subscription starts without beats, with one warning', async (t) => {
  const bus = new FakeBus('gateway');
  bus.subscribe = () => {
    throw new Error('closed connection');
  };
  const logs = new LogSink();
  const beats = new WorkerBeats(bus, { silenceMs: SILENCE_MS, log: createLogger('test', { destination: logs }) });
  t.equal(beats.stillServing('testing', beats.generation('testing')), false, 'silence alone decides');
  t.match(logs.lines, [{ msg: /cannot read worker beats/ }]);
  beats.close();
});
