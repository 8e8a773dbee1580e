import t from 'tap';
import {
  AgentbusError,
  EMBED_HEARTBEAT_HEADER,
  PROTOCOL_VERSION,
  decodeCancelRequest,
  encodeJson,
  subjectsFor,
  type EmbedReply,
  type EmbedRequest,
} from '../../bus-schemas/index.js';
import type { BusMessage } from '../../common/bus.js';
import { LightSignal } from '../../common/light-signal.js';
import { StoppedBeforeAnswer } from '../../gateway/call/stopped-before-answer.js';
import { askEmbeddings } from '../../gateway/embeddings/ask-embeddings.js';
import { embedWithRetry } from '../../gateway/embeddings/retry-embeddings.js';
import { RECONNECT_WAIT_MS } from '../../common/wait-connected.js';
import { FakeBus } from '../helpers/fake-bus.js';
import { FakeClock, settle } from '../helpers/fake-clock.js';

// The gateway's side of an embeddings request on a fake bus and clock: a worker that shows it is
// alive is waited for however long it takes; only silence starts a retry, and every attempt given
// up is cancelled on the worker before anything else is published.
const subjects = subjectsFor('unit');
const HEARTBEAT_MS = 200; // silence limit: max(3 × 200, 1000) = 1000 ms
const FIRST_REPLY_MS = 1_000;

const envelope: EmbedRequest = {
  v: PROTOCOL_VERSION,
  request_id: 'embd-unit',
  intent: 'nomic',
  model: 'nomic',
  input: ['hello'],
  tenant: 'key_0123456789abcdef',
  timeout_ms: 60_000,
  created_at: 0,
};
const vectors: EmbedReply = {
  type: 'embeddings',
  request_id: 'embd-unit',
  embeddings: [],
  model: 'nomic-embed-text',
  provider: 'ollama',
  usage: { prompt_tokens: 1, total_tokens: 1 },
};

/** A gateway, a member of the agent's queue group that only records, and the request running. */
function setUp(
  options: {
    totalMs?: number;
    left?: LightSignal;
    audit?: boolean;
    worker?: boolean;
    busDown?: boolean;
    stopped?: Error;
  } = {},
) {
  const clock = new FakeClock();
  const bus = new FakeBus('gateway', clock);
  if (options.busDown) bus.setConnected(false);
  if (options.stopped) bus.failInboxes(options.stopped);
  const taken: BusMessage[] = [];
  if (options.worker !== false) {
    bus.subscribe(subjects.embed('nomic'), { queue: 'nomic', callback: (_err, msg) => taken.push(msg) });
  }
  const retries: string[] = [];
  const outcome: { reply?: unknown; error?: AgentbusError } = {};
  const totalMs = options.totalMs ?? envelope.timeout_ms;
  embedWithRetry({
    totalMs,
    firstReplyMs: FIRST_REPLY_MS,
    clock,
    onRetry: (error) => retries.push(error.code),
    attempt: (timeoutMs, waitMs) =>
      askEmbeddings(
        bus,
        { ...envelope, timeout_ms: timeoutMs },
        {
          subject: subjects.embed('nomic'),
          cancelSubject: subjects.cancel('nomic'),
          auditSubject: options.audit ? subjects.auditEmbed('nomic') : undefined,
          waitMs,
          heartbeatMs: HEARTBEAT_MS,
          signal: options.left,
          clock,
        },
      ),
  }).then(
    (reply) => (outcome.reply = reply),
    (error: AgentbusError) => (outcome.error = error),
  );
  /** The worker's reply to the `n`th request it took. */
  const answer = (reply: EmbedReply | { type: 'ack'; worker: string } | { type: 'heartbeat' }, n = -1) =>
    bus.publish(taken.at(n)!.reply!, encodeJson({ request_id: envelope.request_id, ...reply }));
  const cancels = () =>
    bus.published.filter((m) => m.subject === subjects.cancel('nomic')).map((m) => decodeCancelRequest(m.data));
  /** Where in the bus's log each cancel and each request went out, in order. */
  const order = () =>
    bus.published
      .filter((m) => m.subject === subjects.cancel('nomic') || m.subject === subjects.embed('nomic'))
      .map((m) => (m.subject === subjects.cancel('nomic') ? 'cancel' : 'request'));
  return { clock, bus, taken, retries, outcome, answer, cancels, order };
}

t.test('a worker that acks and heartbeats is waited for past the first-reply limit: one request only', async (t) => {
  const run = setUp();
  await settle();
  t.equal(run.taken.length, 1);
  t.equal(run.taken[0]!.headers?.get(EMBED_HEARTBEAT_HEADER), String(HEARTBEAT_MS), 'progress replies asked for');
  run.answer({ type: 'ack', worker: 'w1' });
  // 10 s of heartbeats: ten times the first-reply limit and the silence limit.
  for (let beat = 0; beat < 50; beat++) {
    await run.clock.advance(HEARTBEAT_MS);
    run.answer({ type: 'heartbeat' });
  }
  t.same(run.outcome, {}, 'still waiting');
  run.answer(vectors);
  await settle();
  t.same(run.outcome.reply, vectors);
  t.equal(run.taken.length, 1, 'never published again');
  t.same(run.retries, []);
  t.same(run.cancels(), [], 'nothing to cancel');
  t.equal(run.clock.pending, 0, 'no timer left behind');
});

t.test("a stopping gateway's 503 ends the request: cancelled on the worker, not retried", async (t) => {
  const run = setUp();
  await settle();
  run.answer({ type: 'ack', worker: 'w1' });
  run.bus.failInboxes(new StoppedBeforeAnswer());
  await settle();
  t.match(run.outcome.error, { code: 'bus_unavailable', message: /GATEWAY_DRAIN_TIMEOUT_MS/ });
  t.equal(run.taken.length, 1, 'never published again');
  t.same(run.retries, []);
  t.same(run.order(), ['request', 'cancel'], 'its worker stops the batch');
});

t.test("asked after the stop's walk: its 503 at once, as it is; nothing published, not retried", async (t) => {
  const stopped = new StoppedBeforeAnswer();
  const run = setUp({ stopped });
  await settle();
  t.equal(run.outcome.error, stopped);
  t.same(run.order(), [], 'no worker runs it for nobody');
  t.same(run.retries, []);
});

t.test('silent after its ack: worker_lost, cancelled on the worker, then retried once', async (t) => {
  const run = setUp();
  await settle();
  run.answer({ type: 'ack', worker: 'w1' });
  await run.clock.advance(999);
  t.equal(run.taken.length, 1, 'not before the silence limit');
  await run.clock.advance(1);
  t.same(run.retries, ['worker_lost']);
  t.match(run.cancels(), [{ request_id: 'embd-unit', reason: /sent nothing for 1000 ms/ }]);
  t.same(run.order(), ['request', 'cancel', 'request'], 'the cancel goes out before the retry');
  t.equal(run.taken.length, 2);
  run.answer(vectors);
  await settle();
  t.same(run.outcome.reply, vectors);
});

t.test('no sign of a worker within the first-reply limit (one from before): cancelled, retried', async (t) => {
  const run = setUp();
  await settle();
  await run.clock.advance(FIRST_REPLY_MS);
  t.same(run.retries, ['first_token_timeout']);
  t.same(run.order(), ['request', 'cancel', 'request']);
  // The retry has no first-reply limit: a worker from before answers only at the end.
  await run.clock.advance(20_000);
  t.equal(run.taken.length, 2, 'not retried again');
  run.answer(vectors);
  await settle();
  t.same(run.outcome.reply, vectors);
});

t.test('the client leaves: the worker is told to stop, and nothing is retried', async (t) => {
  const left = new LightSignal();
  const run = setUp({ left });
  await settle();
  run.answer({ type: 'ack', worker: 'w1' });
  await run.clock.advance(HEARTBEAT_MS);
  left.abort('the client closed the connection');
  await settle();
  t.match(run.outcome.error, { code: 'request_cancelled' });
  t.match(run.cancels(), [{ request_id: 'embd-unit', reason: /client left/ }]);
  t.equal(run.taken.length, 1);
  await run.clock.advance(10_000);
  t.equal(run.taken.length, 1, 'still one request');
});

t.test('a live worker past the deadline: deadline_exceeded, cancelled, not retried', async (t) => {
  const run = setUp({ totalMs: 3_000 });
  await settle();
  run.answer({ type: 'ack', worker: 'w1' });
  for (let beat = 0; beat < 25 && !run.outcome.error; beat++) {
    await run.clock.advance(HEARTBEAT_MS);
    run.answer({ type: 'heartbeat' });
  }
  t.match(run.outcome.error, { code: 'deadline_exceeded', message: /within 4000 ms/ });
  t.equal(run.cancels().length, 1);
  t.equal(run.taken.length, 1);
});

t.test('ends the worker gave itself, or no worker at all, are not cancelled', async (t) => {
  const failing = setUp();
  await settle();
  failing.answer({ type: 'ack', worker: 'w1' });
  const error = new AgentbusError('backend_unreachable', 'no Ollama here').toWire();
  failing.answer({ type: 'error', request_id: envelope.request_id, error });
  await settle();
  t.same(failing.retries, ['backend_unreachable']);
  t.same(failing.cancels(), []);
  failing.answer(vectors);
  await settle();
  t.same(failing.outcome.reply, vectors);

  const nobody = setUp({ worker: false });
  await nobody.clock.advance(0);
  t.match(nobody.outcome.error, { code: 'no_worker', message: /second attempt/ });
  t.same(nobody.cancels(), []);
});

t.test('the audit copy asks for no progress replies: a replay of it reads one reply', async (t) => {
  const run = setUp({ audit: true });
  await settle();
  const copy = run.bus.published.find((m) => m.subject === subjects.auditEmbed('nomic'))!;
  t.equal(copy.headers?.get('Agentbus-Request-Id'), 'embd-unit');
  t.equal(copy.headers?.get(EMBED_HEARTBEAT_HEADER), '');
  run.answer(vectors);
  await settle();
});

t.test('a bus reconnecting when the request comes: it waits, then publishes (never into nats.js buffer)', async (t) => {
  const run = setUp({ busDown: true });
  await settle();
  t.equal(run.bus.published.length, 0, 'nothing published while cut off');
  await run.clock.advance(RECONNECT_WAIT_MS / 2);
  run.bus.setConnected(true);
  await settle();
  t.equal(run.taken.length, 1, 'published once it is back');
  run.answer(vectors);
  await settle();
  t.same(run.outcome.reply, vectors);
  t.same(run.retries, []);
});

t.test('a bus that stays down: bus_unavailable after the reconnect wait of each attempt', async (t) => {
  const run = setUp({ busDown: true });
  await run.clock.advance(RECONNECT_WAIT_MS);
  t.same(run.retries, ['bus_unavailable'], 'retryable: asked once more');
  t.same(run.outcome, {});
  await run.clock.advance(RECONNECT_WAIT_MS);
  t.match(run.outcome.error, { code: 'bus_unavailable', status: 503, message: /cannot take the embeddings/ });
  t.equal(run.bus.published.length, 0, 'no request, no cancel: nothing was sent');
  t.equal(run.clock.pending, 0, 'no timer left behind');
});

t.test('the bus drops while a worker holds it: bus_unavailable at once, retried once back', async (t) => {
  const run = setUp();
  await settle();
  run.answer({ type: 'ack', worker: 'w1' });
  run.bus.setConnected(false);
  await settle();
  t.same(run.retries, ['bus_unavailable'], 'not after the silence limit: at once');
  await run.clock.advance(RECONNECT_WAIT_MS / 4);
  run.bus.setConnected(true);
  await settle();
  t.equal(run.taken.length, 2, 'the retry went out after the reconnect');
  run.answer(vectors);
  await settle();
  t.same(run.outcome.reply, vectors);
});
