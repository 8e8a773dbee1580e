import t from 'tap';
import {
  AgentbusError,
  PROTOCOL_VERSION,
  decodeCancelRequest,
  decodeEmbedRequest,
  decodeVector,
  encodeJson,
  encodeVector,
  subjectsFor,
  type EmbedReply,
  type EmbedRequest,
} from '../../bus-schemas/index.js';
import type { BusMessage } from '../../common/bus.js';
import type { Agent } from '../../common/catalog.js';
import { LightSignal } from '../../common/light-signal.js';
import { createLogger } from '../../common/logger.js';
import type { ChatDeps } from '../../gateway/chat/types.js';
import { PART_SHARE, batchParts, replyBytesPerInput } from '../../gateway/embeddings/batch-parts.js';
import { PARTS_AT_ONCE } from '../../gateway/embeddings/embed-in-parts.js';
import { ASSUMED_DIMENSIONS, EmbedWidths } from '../../gateway/embeddings/embed-widths.js';
import { sendEmbedding } from '../../gateway/embeddings/send-embedding.js';
import { FakeBus } from '../helpers/fake-bus.js';
import { FakeClock, settle } from '../helpers/fake-clock.js';

// A batch too large for one NATS message is cut in the gateway into parts that fit, sent at
// most PARTS_AT_ONCE at a time, and answered as one: vectors in input order, usage summed; one
// part failing fails the batch and cancels the others. On a fake bus and clock.
const subjects = subjectsFor('unit');
const KB = 1024;

const envelopeOf = (input: string[], extra: Partial<EmbedRequest> = {}): EmbedRequest => ({
  v: PROTOCOL_VERSION,
  request_id: 'embd-parts',
  intent: 'nomic',
  model: 'nomic',
  input,
  tenant: 'key_0123456789abcdef',
  timeout_ms: 60_000,
  created_at: 0,
  ...extra,
});
/** Inputs named by their index, padded to `chars`: a worker's vector says which input it embedded. */
const inputs = (count: number, chars = 10) => Array.from({ length: count }, (_, i) => `${i} `.padEnd(chars, 'x'));
/** The fake worker's vector for an input: its index, then 3 fixed values (4 dimensions). */
const vectorOf = (text: string) => [Number.parseInt(text, 10), 1, 2, 3];

t.test('batchParts: one part when it fits; else parts within the share of max_payload, in order', async (t) => {
  t.same(batchParts(inputs(100), 1024 * KB, 768), [{ start: 0, end: 100 }], 'a small batch stays one request');

  // The reply decides: 768 float32 in base64 are 4099 bytes an input, 50 000 bytes a part.
  const byReply = batchParts(inputs(30), 100_000, 768);
  t.same(byReply, [
    { start: 0, end: 12 },
    { start: 12, end: 24 },
    { start: 24, end: 30 },
  ]);
  t.equal(replyBytesPerInput(768), 4099);

  // The request decides: 1000-character inputs are 1003 bytes of JSON each.
  const byRequest = batchParts(inputs(120, 1000), 100_000, 4);
  t.same(
    byRequest.map((p) => p.end - p.start),
    [49, 49, 22],
  );

  // What the brief's case is: 2048 inputs of a 768-dimension model, 8 MB max_payload.
  const max = 8 * 1024 * KB;
  const big = batchParts(inputs(2048, 2000), max, 768);
  t.equal(big.length, 3, '2048 vectors of 768 dimensions are ~8.4 MB: three parts of ~2.8 MB');
  t.equal(big.at(-1)!.end, 2048, 'every input in a part');
  for (const part of big) {
    const input = inputs(2048, 2000).slice(part.start, part.end);
    const request = encodeJson(envelopeOf(input)).length;
    const vectors = input.map(() => encodeVector(new Array<number>(768).fill(0.123456)));
    const reply = encodeJson({ type: 'embeddings', request_id: 'embd-parts.1', embeddings: vectors }).length;
    t.ok(request <= max * PART_SHARE && reply <= max * PART_SHARE, `part ${part.start}: ${request} / ${reply} bytes`);
  }
});

t.test('batchParts: an input too large for a part alone gets a part of its own', async (t) => {
  const input = ['a', 'b'.repeat(60 * KB), 'c'];
  t.same(batchParts(input, 64 * KB, 4), [
    { start: 0, end: 1 },
    { start: 1, end: 2 },
    { start: 2, end: 3 },
  ]);
});

t.test('EmbedWidths: the assumed width, then the widest seen; `dimensions` asked wins', async (t) => {
  const widths = new EmbedWidths();
  t.equal(widths.of('nomic', undefined), ASSUMED_DIMENSIONS);
  const reply = (width: number) => ({
    type: 'embeddings' as const,
    request_id: 'r',
    embeddings: [encodeVector(new Array<number>(width).fill(0.5))],
    model: 'm',
    provider: 'ollama',
    usage: { prompt_tokens: 1, total_tokens: 1 },
  });
  widths.saw('nomic', reply(768));
  t.equal(widths.of('nomic', undefined), 768);
  widths.saw('nomic', reply(384));
  t.equal(widths.of('nomic', undefined), 768, 'the widest stays');
  t.equal(widths.of('nomic', 256), 256);
  t.equal(widths.of('minilm', undefined), ASSUMED_DIMENSIONS, 'per agent');
});

/** A gateway on a fake bus with a small max_payload, and a worker of nomic that holds what it takes. */
function setUp(options: { maxPayload?: number; width?: number; left?: LightSignal } = {}) {
  const clock = new FakeClock();
  const bus = new FakeBus('gateway', clock);
  bus.maxPayload = options.maxPayload ?? 64 * KB;
  // What sendEmbedding reads of an agent.
  const agent = { name: 'nomic', kind: 'embedding', model: 'n', timeouts: {} } as unknown as Agent;
  const embedWidths = new EmbedWidths();
  if (options.width !== undefined)
    embedWidths.saw('nomic', {
      type: 'embeddings',
      request_id: 'r',
      embeddings: [encodeVector(new Array<number>(options.width).fill(0))],
      model: 'n',
      provider: 'ollama',
      usage: { prompt_tokens: 0, total_tokens: 0 },
    });
  const deps = {
    bus,
    subjects,
    clock,
    embedWidths,
    config: { firstTokenTimeoutMs: 1_000, heartbeatMs: 200, audit: { enabled: true } },
  } as unknown as ChatDeps;
  const taken: Array<{ msg: BusMessage; request: EmbedRequest }> = [];
  bus.subscribe(subjects.embed('nomic'), {
    queue: 'nomic',
    callback: (_err, msg) => taken.push({ msg, request: decodeEmbedRequest(msg.data) }),
  });
  const outcome: { reply?: Extract<EmbedReply, { type: 'embeddings' }>; error?: AgentbusError } = {};
  const log = createLogger('test', { level: 'silent' });
  /** Starts the batch; its outcome lands in `outcome`. */
  const run = (envelope: EmbedRequest) => {
    sendEmbedding(deps, agent, envelope, options.left, log).then(
      (reply) => (outcome.reply = reply),
      (error: AgentbusError) => (outcome.error = error),
    );
  };
  /** Answers a request the worker took: its vectors (the default), or what `reply` says. */
  const answer = (item: (typeof taken)[number], reply?: EmbedReply) => {
    const { request } = item;
    const vectors = (request.input as string[]).map((text) => encodeVector(vectorOf(text)));
    const count = request.input.length;
    bus.publish(
      item.msg.reply!,
      encodeJson(
        reply ?? {
          type: 'embeddings',
          request_id: request.request_id,
          embeddings: vectors,
          model: 'nomic-embed-text',
          provider: 'ollama',
          usage: { prompt_tokens: count * 2, total_tokens: count * 2 },
        },
      ),
    );
  };
  const live = () => taken.filter((item) => !answered.has(item));
  const answered = new Set<(typeof taken)[number]>();
  /** Answers every request taken and not yet answered, the latest first. */
  const answerAll = async (reply?: (item: (typeof taken)[number]) => EmbedReply | undefined) => {
    for (const item of live().reverse()) {
      answered.add(item);
      answer(item, reply?.(item));
    }
    await settle();
  };
  const cancels = () =>
    bus.published
      .filter((m) => m.subject === subjects.cancel('nomic'))
      .map((m) => decodeCancelRequest(m.data).request_id);
  const audited = () =>
    bus.published
      .filter((m) => m.subject === subjects.auditEmbed('nomic'))
      .map((m) => decodeEmbedRequest(m.data).request_id);
  return { bus, clock, taken, outcome, run, answerAll, live, cancels, audited };
}

t.test('a small batch is one request, under the client request id, as before', async (t) => {
  const s = setUp({ width: 4 });
  s.run(envelopeOf(inputs(20)));
  await settle();
  t.same(
    s.taken.map((item) => item.request.request_id),
    ['embd-parts'],
  );
  await s.answerAll();
  t.equal(s.outcome.reply?.embeddings.length, 20);
  t.same(s.audited(), ['embd-parts'], 'one audit copy');
});

t.test('a large batch: parts of at most PARTS_AT_ONCE at once, merged in input order, usage summed', async (t) => {
  // 200 inputs of 1000 characters, 64 KB max_payload: 32 KB a part, 32 inputs each, 7 parts.
  const s = setUp({ width: 4 });
  const input = inputs(200, 1000);
  s.run(envelopeOf(input));
  let most = 0;
  for (let round = 0; round < 10 && !s.outcome.reply; round++) {
    await settle();
    most = Math.max(most, s.live().length);
    // Answered latest first: the order of the answers is not the order of the vectors.
    await s.answerAll();
  }
  const ids = s.taken.map((item) => item.request.request_id);
  t.same(
    ids,
    ['1', '2', '3', '4', '5', '6', '7'].map((n) => `embd-parts.${n}`),
    'each part its own request id',
  );
  t.equal(most, PARTS_AT_ONCE, 'at most PARTS_AT_ONCE on the bus at once');
  t.ok(
    s.taken.every((item) => item.msg.data.length <= 32 * KB),
    'every part within half of max_payload',
  );
  t.same(
    s.taken.flatMap((item) => item.request.input as string[]),
    input,
    'every input once, in order',
  );
  const reply = s.outcome.reply!;
  t.equal(reply.request_id, 'embd-parts');
  t.same(
    reply.embeddings.map((v) => decodeVector(v)[0]),
    input.map((_, i) => i),
    'vector i is input i',
  );
  t.same(reply.usage, { prompt_tokens: 400, total_tokens: 400 });
  t.same(s.audited(), ids, 'one audit copy per part, under its id');
  t.same(s.cancels(), []);
  t.equal(s.clock.pending, 0, 'no timer left behind');
});

t.test('before any answer of the agent, a batch is cut for the widest vectors assumed', async (t) => {
  // 256 KB, 4096 dimensions assumed: 21 851 bytes a vector, 5 inputs a part.
  const s = setUp({ maxPayload: 256 * KB });
  s.run(envelopeOf(inputs(20)));
  for (let round = 0; round < 6 && !s.outcome.reply; round++) {
    await settle();
    await s.answerAll();
  }
  t.equal(s.taken.length, 4);
  t.equal(s.outcome.reply?.embeddings.length, 20);
  // Now 4 dimensions are known: the same batch is one request.
  s.run(envelopeOf(inputs(20), { request_id: 'embd-again' }));
  await settle();
  t.equal(s.taken.at(-1)!.request.request_id, 'embd-again');
});

t.test('one part failing fails the batch: the others are cancelled, no part is sent after', async (t) => {
  const s = setUp({ width: 4 });
  s.run(envelopeOf(inputs(200, 1000)));
  await settle();
  t.equal(s.live().length, PARTS_AT_ONCE);
  // Part 2 (inputs 32–63): its worker refuses its input 3, which is input 35 of the batch.
  const error = new AgentbusError('invalid_request', 'input[3] is not something to embed.', { param: 'input[3]' });
  await s.answerAll((item) =>
    item.request.request_id === 'embd-parts.2'
      ? { type: 'error', request_id: item.request.request_id, error: error.toWire() }
      : undefined,
  );
  // Answered latest first: part 3's answer let part 4 out before part 2 failed; part 1 answered too.
  t.match(s.outcome.error, { code: 'invalid_request', param: 'input[35]', message: /^input\[35\] is not/ });
  t.same(
    s.taken.map((item) => item.request.request_id),
    ['1', '2', '3', '4'].map((n) => `embd-parts.${n}`),
    'nothing sent after the failure',
  );
  t.same(s.cancels(), ['embd-parts.4'], 'the part still on the bus is cancelled');
  t.equal(s.clock.pending, 0, 'no timer left behind');
});

t.test('a part failing with a retryable error is retried once, as a single request', async (t) => {
  const s = setUp({ width: 4 });
  s.run(envelopeOf(inputs(100, 1000)));
  await settle();
  const error = new AgentbusError('backend_unreachable', 'no Ollama here');
  let failed = false;
  for (let round = 0; round < 10 && !s.outcome.reply && !s.outcome.error; round++) {
    await s.answerAll((item) => {
      if (failed || item.request.request_id !== 'embd-parts.3') return undefined;
      failed = true;
      return { type: 'error', request_id: item.request.request_id, error: error.toWire() };
    });
  }
  t.equal(s.outcome.reply?.embeddings.length, 100);
  t.same(
    s.taken.map((item) => item.request.request_id).filter((id) => id === 'embd-parts.3'),
    ['embd-parts.3', 'embd-parts.3'],
    'the same part id twice',
  );
  t.same(
    s.outcome.reply!.embeddings.map((v) => decodeVector(v)[0]),
    Array.from({ length: 100 }, (_, i) => i),
  );
});

t.test('a part answered with a vector missing fails the batch: indexes would shift', async (t) => {
  const s = setUp({ width: 4 });
  s.run(envelopeOf(inputs(100, 1000)));
  await settle();
  await s.answerAll((item) =>
    item.request.request_id === 'embd-parts.1'
      ? {
          type: 'embeddings',
          request_id: 'embd-parts.1',
          embeddings: [encodeVector([0, 1, 2, 3])],
          model: 'n',
          provider: 'ollama',
          usage: { prompt_tokens: 1, total_tokens: 1 },
        }
      : undefined,
  );
  t.match(s.outcome.error, { code: 'stream_protocol_error', message: /inputs 0–31 .* 1 vectors for 32 inputs/ });
});

t.test('the client leaving stops the batch: every part on the bus is cancelled', async (t) => {
  const left = new LightSignal();
  const s = setUp({ width: 4, left });
  s.run(envelopeOf(inputs(200, 1000)));
  await settle();
  left.abort(new Error('gone'));
  await settle();
  t.match(s.outcome.error, { code: 'request_cancelled' });
  t.equal(s.taken.length, PARTS_AT_ONCE, 'nothing sent after');
  t.same(
    s.cancels().sort(),
    ['1', '2', '3'].map((n) => `embd-parts.${n}`),
  );
});

t.test('a single input over max_payload is a 413 naming it', async (t) => {
  const s = setUp({ width: 4 });
  s.run(envelopeOf(['a', 'b'.repeat(70 * KB), 'c']));
  for (let round = 0; round < 4 && !s.outcome.error; round++) {
    await settle();
    await s.answerAll();
  }
  t.match(s.outcome.error, {
    code: 'request_too_large',
    param: 'input[1]',
    message: /^input\[1\] is larger than the message bus carries \(NATS max_payload, 65536 bytes\); shorten it/,
  });
});
