import t from 'tap';
import { AgentbusError } from '../../bus-schemas/index.js';
import { Admission, admittedChains, type Slot } from '../../workers/admission.js';
import type { OpenedAnswer, ProviderChains } from '../../workers/providers/chain.js';
import type { ProviderEvent } from '../../workers/providers/types.js';
import { FakeClock, settle } from '../helpers/fake-clock.js';
import { agentWith, answers, collect, recordingLogger } from '../helpers/fake-provider.js';

// The worker's gate in front of the model, on a fake clock: the queue timeout is reached by
// moving time, never by waiting for it.
const SETTINGS = { maxInflight: 2, maxQueued: 2, queueTimeoutMs: 10_000 };
const never = new AbortController().signal;

/** A pending acquire whose outcome the test can read without awaiting it. */
function track(pending: Promise<Slot>) {
  const state: { slot?: Slot; error?: unknown } = {};
  pending.then(
    (slot) => (state.slot = slot),
    (error: unknown) => (state.error = error),
  );
  return state;
}

const workerLost = () => new AgentbusError('worker_lost', 'The worker shut down while this request waited.');

t.test('admits at once within MAX_INFLIGHT, and a release frees the call', async (t) => {
  const gate = new Admission(SETTINGS, new FakeClock());
  const first = await gate.acquire(never);
  await gate.acquire(never);
  t.equal(gate.running, 2);
  t.equal(gate.queued, 0);
  first.release();
  first.release();
  t.equal(gate.running, 1, 'a second release of the same slot changes nothing');
  t.same(gate.stats(), { model_calls: 1, queued: 0, max_inflight: 2, max_queued: 2, queue_timeout_ms: 10_000 });
});

t.test('past the limit a request waits, and a release hands its call to the oldest waiter', async (t) => {
  const clock = new FakeClock();
  const gate = new Admission({ ...SETTINGS, maxInflight: 1 }, clock);
  const running = await gate.acquire(never);
  const first = track(gate.acquire(never));
  const second = track(gate.acquire(never));
  await settle();
  t.equal(gate.queued, 2);
  t.notOk(first.slot ?? first.error, 'still waiting');
  t.equal(clock.pending, 2, 'one queue timer per waiter');

  running.release();
  await settle();
  t.ok(first.slot, 'the oldest waiter runs');
  t.notOk(second.slot, 'the next one still waits');
  t.equal(gate.running, 1, 'the call was handed over, not freed');
  t.equal(clock.pending, 1, "the admitted request's timer is cleared");

  // A newcomer never overtakes the queue.
  const newcomer = track(gate.acquire(never));
  first.slot!.release();
  await settle();
  t.ok(second.slot, 'the second waiter runs before the newcomer');
  t.notOk(newcomer.slot);
  second.slot!.release();
  await settle();
  t.ok(newcomer.slot);
  newcomer.slot!.release();
  t.equal(gate.running, 0);
  t.equal(clock.pending, 0);
});

t.test('a full queue refuses at once with overloaded, naming MAX_INFLIGHT and MAX_QUEUED', async (t) => {
  const gate = new Admission(SETTINGS, new FakeClock());
  await gate.acquire(never);
  await gate.acquire(never);
  track(gate.acquire(never));
  track(gate.acquire(never));
  const refused = gate.acquire(never);
  await t.rejects(refused, {
    code: 'overloaded',
    retryable: true,
    message:
      'This worker is already running its limit of 2 model calls (MAX_INFLIGHT) and 2 more requests are waiting ' +
      '(MAX_QUEUED), so it refused this one. Retry shortly, or start more workers for this agent (npm run worker) ' +
      'to add capacity.',
  });
  t.equal(gate.queued, 2, 'the refused request never joined the queue');
});

t.test('a request that waits past QUEUE_TIMEOUT_MS is refused with overloaded and leaves the queue', async (t) => {
  const clock = new FakeClock();
  const gate = new Admission({ ...SETTINGS, maxInflight: 1 }, clock);
  const running = await gate.acquire(never);
  const waiting = track(gate.acquire(never));
  await clock.advance(9_999);
  t.notOk(waiting.error, 'not yet');
  await clock.advance(1);
  t.match(waiting.error, { code: 'overloaded', retryable: true });
  t.equal(
    (waiting.error as Error).message,
    'This worker is already running its limit of 1 model call (MAX_INFLIGHT) and none finished within 10000 ms ' +
      '(QUEUE_TIMEOUT_MS) while this request waited. Retry shortly, or start more workers for this agent ' +
      '(npm run worker) to add capacity.',
  );
  t.equal(gate.queued, 0);
  running.release();
  t.equal(gate.running, 0, 'the release found nobody waiting');
});

t.test('an abort while waiting rejects with its reason and leaves the queue', async (t) => {
  const clock = new FakeClock();
  const gate = new Admission({ ...SETTINGS, maxInflight: 1 }, clock);
  const running = await gate.acquire(never);
  const request = new AbortController();
  const waiting = track(gate.acquire(request.signal));
  const cancel = new AgentbusError('request_cancelled', 'Cancelled by the requester: test');
  request.abort(cancel);
  await settle();
  t.equal(waiting.error, cancel);
  t.equal(gate.queued, 0);
  t.equal(clock.pending, 0, 'its timer is cleared');
  running.release();
  t.equal(gate.running, 0);

  await t.rejects(gate.acquire(request.signal), cancel, 'an already aborted request is refused at once');
});

t.test('close() refuses every waiting request with its reason and queues nobody after', async (t) => {
  const clock = new FakeClock();
  const gate = new Admission({ ...SETTINGS, maxInflight: 1 }, clock);
  const running = await gate.acquire(never);
  const waiting = [track(gate.acquire(never)), track(gate.acquire(never))];
  const reason = workerLost();
  gate.close(reason);
  await settle();
  t.same(
    waiting.map((w) => w.error),
    [reason, reason],
  );
  t.match(reason, { code: 'worker_lost', retryable: true });
  t.equal(gate.queued, 0);
  t.equal(clock.pending, 0);
  await t.rejects(gate.acquire(never), reason, 'no free call: refused instead of queued');

  t.equal(gate.running, 1, 'the running call is not touched');
  running.release();
  const late = await gate.acquire(never);
  t.equal(gate.running, 1, 'a free call still runs after close');
  late.release();
});

/** Chains that answer at once (or fail), counting what they opened. */
function fakeChains(fail?: Error): ProviderChains & { opened: number } {
  const chains = {
    opened: 0,
    linksOf: () => [],
    provider: () => {
      throw new Error('not used');
    },
    unavailable: () => undefined,
    open: (): Promise<OpenedAnswer> => {
      chains.opened++;
      if (fail) return Promise.reject(fail);
      return Promise.resolve({ provider: 'ollama', model: 'm', events: answers('hi')({} as never), fallback: [] });
    },
    embed: () => Promise.reject(new Error('not used')),
  };
  return chains;
}

t.test('admittedChains: a model call holds a slot until its events end', async (t) => {
  const gate = new Admission({ ...SETTINGS, maxInflight: 1 }, new FakeClock());
  const { log } = recordingLogger();
  const chains = fakeChains();
  const request = { messages: [], options: {}, signal: never, private: false };
  const first = admittedChains(chains, gate);
  const opened = await first.providers.open(agentWith('a'), request, log);
  t.equal(gate.running, 1);

  const second = admittedChains(chains, gate);
  const waiting = second.providers.open(agentWith('a'), request, log);
  await settle();
  t.equal(chains.opened, 1, 'the second call waits for the slot before opening');
  const events: ProviderEvent[] = await collect(opened.events);
  t.equal(events.at(-1)?.type, 'done');
  const next = await waiting;
  t.equal(chains.opened, 2, 'the end of the first answer let the second open');
  t.equal(gate.running, 1);

  // An answer opened but never read: the handler's releaseAll frees it.
  t.ok(next);
  second.releaseAll();
  t.equal(gate.running, 0);
  first.releaseAll();
  t.equal(gate.running, 0, 'releasing twice frees nothing more');
});

t.test('admittedChains: a chain that fails to open frees its slot at once', async (t) => {
  const gate = new Admission(SETTINGS, new FakeClock());
  const { log } = recordingLogger();
  const failure = new AgentbusError('no_provider_available', 'none');
  const admitted = admittedChains(fakeChains(failure), gate);
  await t.rejects(
    admitted.providers.open(agentWith('a'), { messages: [], options: {}, signal: never, private: false }, log),
    failure,
  );
  t.equal(gate.running, 0);
});
