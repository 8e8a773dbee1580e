import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { sql } from 'kysely';
import t from 'tap';
import {
  decodeReplyFrame,
  encodeJson,
  AgentbusError,
  PROTOCOL_VERSION,
  RECEIPT_GRACE_MS,
  type ChatRequest,
  type ReplyFrame,
  type SamplingOptions,
} from '../../bus-schemas/index.js';
import { loadRedactor } from '../../common/redaction.js';
import type { CachedAnswer, ResponseCache } from '../../workers/cache/response-cache.js';
import { isCacheable, type CacheMode } from '../../workers/cache/cache-policy.js';
import { handleChatRequest, type ChatHandlerDeps } from '../../workers/chat-handler.js';
import { InFlight } from '../../workers/in-flight.js';
import { memoryDatabasePath, openMemoryDatabase } from '../../workers/memory/database.js';
import { commitTurn } from '../../workers/memory/delivery.js';
import { loadHistory } from '../../workers/memory/history.js';
import { migrateToLatest } from '../../workers/memory/migrate.js';
import { createProviderChains } from '../../workers/providers/chain.js';
import { FakeBus } from '../helpers/fake-bus.js';
import { FakeClock, settle } from '../helpers/fake-clock.js';
import { agentWith, answers, FakeProvider, fails, heldOpen, recordingLogger } from '../helpers/fake-provider.js';

// The worker's chat handler against a fake bus (our seam), a fake provider behind our
// ChatProvider seam, an in-memory cache behind our ResponseCache seam, a fake clock, and a
// real SQLite memory in a temp directory.

const dir = mkdtempSync(join(tmpdir(), 'agentbus-handler-'));
const db = openMemoryDatabase(memoryDatabasePath(dir));
await migrateToLatest(db);
t.teardown(async () => {
  await db.destroy();
  rmSync(dir, { recursive: true, force: true });
});

/** The cache seam, in memory. */
class MemoryCache implements ResponseCache {
  readonly enabled = true;
  mode: CacheMode = 'deterministic';
  accepts(options: SamplingOptions): boolean {
    return isCacheable(this.mode, options);
  }
  readonly entries = new Map<string, CachedAnswer>();
  get(key: string) {
    return Promise.resolve(this.entries.get(key));
  }
  put(key: string, answer: CachedAnswer) {
    this.entries.set(key, answer);
    return Promise.resolve();
  }
}

let ids = 0;
function envelope(extra: Partial<ChatRequest> = {}): ChatRequest {
  const id = `chatcmpl-handler-${++ids}`;
  return {
    v: PROTOCOL_VERSION,
    request_id: id,
    session_id: `conv_${id}`,
    create_session: true,
    intent: 'testing',
    model: 'testing',
    messages: [{ role: 'user', content: 'hello' }],
    options: {},
    stream: true,
    timeout_ms: 10_000,
    heartbeat_ms: 200,
    tenant: 'tenant-a',
    created_at: 0,
    ...extra,
  };
}

function setup() {
  const clock = new FakeClock();
  const bus = new FakeBus('worker', clock);
  const provider = new FakeProvider('ollama');
  const { log, lines } = recordingLogger();
  const cache = new MemoryCache();
  const providers = createProviderChains(
    {
      createProvider: () => provider,
      defaultProvider: 'ollama',
      localProviders: ['ollama'],
      breakers: { failures: 3, cooldownMs: 30_000 },
      redactor: loadRedactor(undefined),
      clock,
    },
    log,
  );
  const agent = { ...agentWith('testing', [{ provider: 'ollama', model: 'm' }]), historyTurns: 10 };
  // No wait for a conversation's pending turns unless a test asks (memory/pending.ts).
  const settleWait = { maxWaitMs: 0, everyMs: 5, clock };
  const deps: ChatHandlerDeps = { bus, db, providers, cache, agent, workerId: 'w1', log, clock, settleWait };
  const inFlight = new InFlight();
  // The requester's side: answers each done sent as a request with a receipt, as the gateway does
  // once the client has the whole answer. `refuse` plays a client that left first; `silent` a
  // gateway that died; `hold` keeps the answers for the test to give in any order.
  const receipts = {
    mode: 'deliver' as 'deliver' | 'refuse' | 'silent' | 'hold',
    sent: 0,
    held: [] as Array<(delivered: boolean) => void>,
  };
  const requester = bus.subscribe('inbox', {
    callback: (_err, msg) => {
      if (!msg.reply || msg.data.length === 0) return;
      const frame = decodeReplyFrame(msg.data);
      if (frame.type !== 'done') return;
      receipts.sent++;
      const reply = msg.reply;
      const answer = (delivered: boolean) =>
        bus.publish(reply, encodeJson({ v: 2, request_id: frame.request_id, delivered }), { reply: 'receipt-ack' });
      if (receipts.mode === 'deliver') answer(true);
      else if (receipts.mode === 'refuse') answer(false);
      else if (receipts.mode === 'hold') receipts.held.push(answer);
    },
  });
  const handle = (request: ChatRequest | Uint8Array) =>
    handleChatRequest(
      deps,
      { data: request instanceof Uint8Array ? request : encodeJson(request), reply: 'inbox' },
      inFlight,
    );
  /** The frames published to the reply inbox, and whether the empty sentinel followed. */
  const replies = () => {
    const messages = bus.published.filter((m) => m.subject === 'inbox');
    const frames: ReplyFrame[] = messages.filter((m) => m.data.length > 0).map((m) => decodeReplyFrame(m.data));
    return { frames, sentinel: messages.at(-1)?.data.length === 0 };
  };
  const turns = (requestId: string) => db.selectFrom('turns').selectAll().where('request_id', '=', requestId).execute();
  /** A first turn answered and left pending: its receipt is held for the test to give. */
  const holdFirstTurn = async () => {
    const first = envelope({ messages: [{ role: 'user', content: 'my name is Ada' }] });
    receipts.mode = 'hold';
    provider.behave = answers('Hi Ada');
    const firstDone = handle(first);
    await settle();
    return { first, firstDone };
  };
  /** Handles `request` with a wait for pending turns of up to `maxWaitMs` (setup's is none). */
  const handleWaiting = (request: ChatRequest, maxWaitMs: number) =>
    handleChatRequest(
      { ...deps, settleWait: { maxWaitMs, everyMs: 5, clock } },
      { data: encodeJson(request), reply: 'inbox' },
      inFlight,
    );
  return {
    clock,
    bus,
    provider,
    cache,
    deps,
    inFlight,
    handle,
    handleWaiting,
    holdFirstTurn,
    replies,
    turns,
    lines,
    receipts,
    requester,
  };
}

t.test('a streamed answer: ack, deltas, done, the turn stored, the sentinel last', async (t) => {
  const { provider, handle, replies, turns } = setup();
  provider.behave = answers('Hel', 'lo');
  const request = envelope();
  t.same(await handle(request), { ok: true });
  const { frames, sentinel } = replies();
  t.same(
    frames.map((f) => f.type),
    ['ack', 'delta', 'delta', 'done'],
  );
  t.same(
    frames.map((f) => f.seq),
    [0, 1, 2, 3],
  );
  t.ok(sentinel);
  const done = frames.at(-1) as Extract<ReplyFrame, { type: 'done' }>;
  t.match(done.meta, { conversation_id: request.session_id, agent: 'testing', provider: 'ollama', worker: 'w1' });
  const [turn] = await turns(request.request_id);
  t.equal(turn?.assistant_response, 'Hello');
  t.equal(turn?.user_input, 'hello');
});

t.test('a non-streamed answer: a generating heartbeat, then the whole text at the end', async (t) => {
  const { provider, handle, replies } = setup();
  provider.behave = answers('one ', 'piece');
  await handle(envelope({ stream: false }));
  const { frames } = replies();
  t.same(
    frames.map((f) => f.type),
    ['ack', 'heartbeat', 'delta', 'done'],
  );
  t.equal((frames[1] as Extract<ReplyFrame, { type: 'heartbeat' }>).generating, true);
  t.equal((frames[2] as Extract<ReplyFrame, { type: 'delta' }>).content, 'one piece');
});

t.test('a follow-up in the same conversation gets the earlier turn as history', async (t) => {
  const { provider, handle } = setup();
  const first = envelope({ messages: [{ role: 'user', content: 'my name is Ada' }] });
  provider.behave = answers('Hi Ada');
  await handle(first);
  provider.behave = answers('Ada');
  await handle(
    envelope({
      session_id: first.session_id,
      create_session: false,
      messages: [{ role: 'user', content: 'who am I?' }],
    }),
  );
  const prompt = provider.calls[1]!.messages.map((m) => `${m.role}:${m.content}`);
  t.same(prompt.slice(-3), ['user:my name is Ada', 'assistant:Hi Ada', 'user:who am I?']);
});

t.test("another tenant's session is session_not_found, and nothing is stored", async (t) => {
  const { provider, handle, replies, turns } = setup();
  const first = envelope();
  provider.behave = answers('x');
  await handle(first);
  const probe = envelope({ session_id: first.session_id, create_session: false, tenant: 'tenant-b' });
  t.same(await handle(probe), { ok: false, code: 'session_not_found' });
  t.equal(replies().frames.at(-1)?.type, 'error');
  t.same(await turns(probe.request_id), []);
});

t.test('an invalid envelope gets an error frame with the id it can read; nothing is stored', async (t) => {
  const { handle, replies } = setup();
  const outcome = await handle(encodeJson({ ...envelope(), request_id: 'chatcmpl-bad', messages: 'not a list' }));
  t.same(outcome, { ok: false, code: 'invalid_envelope' });
  const [frame] = replies().frames;
  t.equal(frame?.type, 'error');
  t.equal(frame?.request_id, 'chatcmpl-bad');
});

t.test('a provider failure is one error frame; nothing is stored', async (t) => {
  const { provider, handle, replies, turns } = setup();
  provider.behave = fails('backend_unreachable');
  const request = envelope();
  t.same(
    await handle(request),
    { ok: false, code: 'backend_unreachable' },
    "a one-provider chain keeps the provider's error",
  );
  t.same(
    replies().frames.map((f) => f.type),
    ['ack', 'error'],
  );
  t.same(await turns(request.request_id), []);
});

t.test('a cancel from the requester aborts the model call; nothing is stored', async (t) => {
  const { provider, handle, replies, turns, inFlight } = setup();
  const held = heldOpen(['too late']);
  provider.behave = held.behave;
  const request = envelope();
  const outcome = handle(request);
  await settle();
  inFlight.cancel(request.request_id, new AgentbusError('request_cancelled', 'Cancelled by the requester: test'));
  t.same(await outcome, { ok: false, code: 'request_cancelled' });
  t.equal((replies().frames.at(-1) as Extract<ReplyFrame, { type: 'error' }>).error.code, 'request_cancelled');
  t.same(await turns(request.request_id), []);
});

t.test('the deadline aborts a model call that runs too long: deadline_exceeded, nothing stored', async (t) => {
  const { provider, handle, replies, turns, clock } = setup();
  provider.behave = heldOpen().behave;
  const request = envelope({ timeout_ms: 5000 });
  const outcome = handle(request);
  await clock.advance(5000);
  t.same(await outcome, { ok: false, code: 'deadline_exceeded' });
  t.match((replies().frames.at(-1) as Extract<ReplyFrame, { type: 'error' }>).error.message, /5000 ms/);
  t.same(await turns(request.request_id), []);
});

t.test("at the deadline, a provider's own account of that stop reaches the client", async (t) => {
  const { provider, handle, replies, clock } = setup();
  // As llama-cpp does: the same code, with what to change so the next request ends in time.
  provider.behave = async function* (request) {
    await new Promise<void>((_resolve, reject) => {
      const explain = () => {
        const stop = request.signal.reason as AgentbusError;
        reject(new AgentbusError(stop.code, `${stop.message} Send max_tokens.`));
      };
      request.signal.addEventListener('abort', explain, { once: true });
    });
    yield { type: 'delta', content: 'never' };
  };
  const outcome = handle(envelope({ timeout_ms: 5000 }));
  await clock.advance(5000);
  t.same(await outcome, { ok: false, code: 'deadline_exceeded' });
  const { error } = replies().frames.at(-1) as Extract<ReplyFrame, { type: 'error' }>;
  t.match(error.message, /5000 ms.*Send max_tokens\.$/);
});

t.test('a non-streamed answer holds its ack until its next frame goes out, and sends it first', async (t) => {
  const { provider, handle, replies, clock, bus } = setup();
  const held = heldOpen(['ok']);
  provider.behave = held.behave;
  const outcome = handle(envelope({ stream: false, heartbeat_ms: 200 }));
  await settle();
  t.same(replies().frames, [], 'no write of its own while the model call opens');
  await clock.advance(200);
  t.same(
    replies().frames.map((f) => [f.type, f.seq]),
    [
      ['ack', 0],
      ['heartbeat', 1],
    ],
    'the first heartbeat, due a heartbeat after the request arrived, takes it along',
  );
  held.release();
  await outcome;
  t.same(
    replies().frames.map((f) => f.type),
    ['ack', 'heartbeat', 'heartbeat', 'delta', 'done'],
  );
  const quick = envelope({ stream: false });
  provider.behave = answers('fast');
  const before = bus.published.length;
  await handle(quick);
  const sent = bus.published.slice(before).filter((m) => m.subject === 'inbox' && m.data.length > 0);
  t.same(
    sent.map((m) => decodeReplyFrame(m.data).type),
    ['ack', 'heartbeat', 'delta', 'done'],
    'a quick answer: all in order',
  );
  const streamed = envelope({ stream: true, heartbeat_ms: 200 });
  const later = heldOpen(['later']);
  provider.behave = later.behave;
  const streaming = handle(streamed);
  await settle();
  t.same(
    replies()
      .frames.filter((f) => f.request_id === streamed.request_id)
      .map((f) => f.type),
    ['ack'],
    'a streamed answer sends its ack at once',
  );
  later.release();
  await streaming;
});

t.test('heartbeats go out while the model thinks', async (t) => {
  const { provider, handle, replies, clock } = setup();
  const held = heldOpen(['ok']);
  provider.behave = held.behave;
  const outcome = handle(envelope({ heartbeat_ms: 200 }));
  await clock.advance(650);
  t.equal(replies().frames.filter((f) => f.type === 'heartbeat').length, 3);
  held.release();
  await outcome;
  t.equal(replies().frames.at(-1)?.type, 'done');
});

t.test(
  'an identical deterministic request is answered from the cache, without the model, stored as cached',
  async (t) => {
    const { provider, handle, replies, turns, cache } = setup();
    provider.behave = answers('cached text');
    const first = envelope({ options: { temperature: 0 } });
    await handle(first);
    t.equal(cache.entries.size, 1, 'the answer went into the cache');
    const again = envelope({ options: { temperature: 0 } });
    await handle(again);
    t.equal(provider.calls.length, 1, 'the model was asked once');
    const frames = replies().frames.filter((f) => f.request_id === again.request_id);
    t.equal((frames[0] as Extract<ReplyFrame, { type: 'ack' }>).cached, true);
    const [turn] = await turns(again.request_id);
    t.equal(turn?.cached, 1);
    t.equal(turn?.assistant_response, 'cached text');
  },
);

t.test('CACHE_MODE: sampled requests are not cached by default; a seed is; always and off', async (t) => {
  const { provider, handle, cache } = setup();
  provider.behave = answers('fresh');
  await handle(envelope());
  await handle(envelope({ options: { temperature: 1 } }));
  t.equal(cache.entries.size, 0, 'a "Regenerate" at a temperature gets a new answer');
  await handle(envelope({ options: { temperature: 1, seed: 7 } }));
  t.equal(cache.entries.size, 1, 'a seed makes it reproducible');
  cache.mode = 'always';
  await handle(envelope({ options: { temperature: 1 } }));
  t.equal(cache.entries.size, 2);
  cache.mode = 'off';
  await handle(envelope({ options: { temperature: 0 } }));
  t.equal(cache.entries.size, 2);
});

t.test('store: false leaves no session, turn or cache entry', async (t) => {
  const { provider, handle, turns, cache } = setup();
  provider.behave = answers('routing answer');
  const request = envelope({ store: false });
  t.same(await handle(request), { ok: true });
  t.same(await turns(request.request_id), []);
  t.equal(cache.entries.size, 0);
});

t.test('delivery: the worker acknowledges the receipt, so the requester stops resending it', async (t) => {
  const { provider, handle, bus } = setup();
  provider.behave = answers('delivered');
  t.same(await handle(envelope()), { ok: true });
  const acks = bus.published.filter((m) => m.subject === 'receipt-ack');
  t.equal(acks.length, 1);
  t.equal(acks[0]!.data.length, 0, 'an empty acknowledgement');
});

t.test('delivery: the acknowledgement leaves once the turn is committed, not before', async (t) => {
  const { provider, handle, bus } = setup();
  provider.behave = answers('acknowledged late');
  const request = envelope();
  // Read synchronously from another connection the moment the acknowledgement is published.
  const reader = new Database(memoryDatabasePath(dir), { readonly: true });
  t.teardown(() => reader.close());
  const stateAtAck: unknown[] = [];
  bus.subscribe('receipt-ack', {
    callback: () =>
      stateAtAck.push(
        (reader.prepare('select state from turns where request_id = ?').get(request.request_id) as { state: string })
          ?.state,
      ),
  });
  t.same(await handle(request), { ok: true });
  await settle();
  t.same(stateAtAck, ['committed'], 'a worker dying before its commit leaves the receipt unacknowledged');
});

t.test('delivery: a commit that fails leaves a delivered receipt unacknowledged, for another worker', async (t) => {
  const { provider, handle, bus, turns, lines } = setup();
  provider.behave = answers('not committed here');
  const request = envelope({ messages: [{ role: 'user', content: 'refused by the disk' }] });
  // A real SQLite failure of the commit only: the pending write goes through, its update does not.
  await sql`create trigger refuse_commit before update of state on turns when old.user_input = 'refused by the disk'
    begin select raise(abort, 'disk on fire'); end`.execute(db);
  t.teardown(() => sql`drop trigger refuse_commit`.execute(db));
  t.same(await handle(request), { ok: false, code: 'memory_unavailable' }, 'delivered, not stored here');
  t.equal(bus.published.filter((m) => m.subject === 'receipt-ack').length, 0, 'the requester keeps resending it');
  t.equal((await turns(request.request_id))[0]?.state, 'pending', 'left for memory.commit or the sweep');
  t.ok(lines.some((line) => line.msg === 'could not commit or discard a turn after its receipt'));
});

t.test('delivery: a done the client did not receive leaves no turn, no session, no cache entry', async (t) => {
  const { provider, handle, turns, cache, receipts, bus } = setup();
  provider.behave = answers('never seen');
  receipts.mode = 'refuse';
  const request = envelope();
  t.same(await handle(request), { ok: false, code: 'not_delivered' });
  t.equal(receipts.sent, 1, 'the done asked for its receipt');
  t.equal(bus.published.filter((m) => m.subject === 'receipt-ack').length, 1, 'acknowledged: no resending');
  t.same(await turns(request.request_id), []);
  const sessions = await db.selectFrom('sessions').selectAll().where('id', '=', request.session_id).execute();
  t.same(sessions, [], 'the session it alone made is gone too');
  t.equal(cache.entries.size, 0);
});

t.test(
  'a requester that died mid-answer (its inbox gone) is noticed by the next heartbeat: the model call is aborted',
  async (t) => {
    const { provider, handle, replies, turns, clock, requester } = setup();
    const held = heldOpen(['never', ' sent']);
    provider.behave = held.behave;
    const request = envelope({ heartbeat_ms: 200 });
    const outcome = handle(request);
    await clock.advance(200);
    t.equal(replies().frames.filter((f) => f.type === 'heartbeat').length, 1, 'the requester listens: nothing happens');
    // A killed gateway sends no cancel; its inbox subscription is simply gone.
    requester.unsubscribe();
    await clock.advance(200);
    // The held call ends only by its abort: the outcome proves the model call was stopped.
    t.same(await outcome, { ok: false, code: 'request_cancelled' });
    t.match(replies().frames.at(-1), {
      type: 'error',
      error: { code: 'request_cancelled', message: /requester is gone/ },
    });
    t.same(await turns(request.request_id), [], 'nothing stored');
  },
);

t.test('delivery: no receipt by the deadline plus its grace (the requester died) discards the turn', async (t) => {
  const { provider, handle, turns, receipts, clock } = setup();
  provider.behave = answers('lost');
  receipts.mode = 'silent';
  const request = envelope({ timeout_ms: 1000 });
  const outcome = handle(request);
  await clock.advance(1000 + RECEIPT_GRACE_MS - 1);
  t.equal((await turns(request.request_id))[0]?.state, 'pending', 'pending while it waits');
  await clock.advance(1);
  t.same(await outcome, { ok: false, code: 'not_delivered' });
  t.same(await turns(request.request_id), []);
});

t.test('delivery: history is in the order clients received the answers, not the order they ended', async (t) => {
  const { provider, handle, receipts } = setup();
  const first = envelope({ messages: [{ role: 'user', content: 'one' }] });
  provider.behave = answers('A1');
  await handle(first);
  receipts.mode = 'hold';
  const continuing = { session_id: first.session_id, create_session: false };
  provider.behave = answers('A2');
  const second = handle(envelope({ ...continuing, messages: [{ role: 'user', content: 'two' }] }));
  await settle();
  provider.behave = answers('A3');
  const third = handle(envelope({ ...continuing, messages: [{ role: 'user', content: 'three' }] }));
  await settle();
  t.equal(receipts.held.length, 2);
  receipts.held[1]!(true); // "three" reached its client first
  await settle();
  receipts.held[0]!(true);
  await Promise.all([second, third]);
  const history = await loadHistory(db, first.session_id, 10, 'chatcmpl-later');
  t.same(
    history.messages.filter((m) => m.role === 'user').map((m) => m.content),
    ['one', 'three', 'two'],
  );
});

t.test('a v1 envelope (an older gateway, a replayed audit entry) is committed on done, no receipt', async (t) => {
  const { provider, handle, turns, receipts } = setup();
  provider.behave = answers('old');
  const request = envelope({ v: 1 });
  t.same(await handle(request), { ok: true });
  t.equal(receipts.sent, 0);
  t.equal((await turns(request.request_id))[0]?.state, 'committed');
});

t.test('a filtered answer: content_filter in done, the turn stored as filtered, never cached', async (t) => {
  const { provider, handle, replies, turns, cache } = setup();
  provider.behave = async function* () {
    yield { type: 'delta', content: 'I was about to' };
    yield {
      type: 'done',
      finishReason: 'content_filter',
      usage: { prompt_tokens: 1, completion_tokens: 4, total_tokens: 5 },
    };
  };
  // Deterministic, so the cache would take a normal answer.
  const request = envelope({ content_filter_finish: true, options: { temperature: 0 } });
  t.same(await handle(request), { ok: true });
  const done = replies().frames.at(-1) as Extract<ReplyFrame, { type: 'done' }>;
  t.equal(done.finish_reason, 'content_filter');
  const [turn] = await turns(request.request_id);
  t.match(turn, { state: 'committed', finish_reason: 'content_filter', assistant_response: 'I was about to' });
  t.equal(cache.entries.size, 0, 'a filtered answer is asked of the upstream again, not served from the cache');
});

t.test('a filtered answer to an envelope without content_filter_finish (an older gateway) ends stop', async (t) => {
  const { provider, handle, replies, turns } = setup();
  provider.behave = async function* () {
    yield { type: 'delta', content: 'cut' };
    yield {
      type: 'done',
      finishReason: 'content_filter',
      usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
    };
  };
  const request = envelope();
  t.same(await handle(request), { ok: true });
  const done = replies().frames.at(-1) as Extract<ReplyFrame, { type: 'done' }>;
  t.equal(done.finish_reason, 'stop', "the old gateway's schema would refuse content_filter");
  t.equal((await turns(request.request_id))[0]?.finish_reason, 'content_filter', 'memory keeps what happened');
});

t.test("a refusal is the answer's text, stored, and never cached", async (t) => {
  const { provider, handle, replies, turns, cache } = setup();
  provider.behave = async function* () {
    yield { type: 'refusal', content: 'I cannot help' };
    yield { type: 'done', finishReason: 'stop', usage: { prompt_tokens: 1, completion_tokens: 3, total_tokens: 4 } };
  };
  const request = envelope({ options: { temperature: 0 } });
  t.same(await handle(request), { ok: true });
  const deltas = replies().frames.flatMap((f) => (f.type === 'delta' ? [f.content] : []));
  t.same(deltas, ['I cannot help']);
  t.match((await turns(request.request_id))[0], { assistant_response: 'I cannot help', refusal: 'I cannot help' });
  t.equal(cache.entries.size, 0, "the upstream's verdict of the moment is asked again");
});

t.test('a refusal goes apart, as `refusal` deltas, to a requester that takes them', async (t) => {
  for (const stream of [true, false]) {
    const { provider, handle, replies, turns, cache } = setup();
    provider.behave = async function* () {
      yield { type: 'delta', content: 'Well. ' };
      yield { type: 'refusal', content: 'I cannot' };
      yield { type: 'refusal', content: ' help' };
      yield { type: 'done', finishReason: 'stop', usage: { prompt_tokens: 1, completion_tokens: 3, total_tokens: 4 } };
    };
    const request = envelope({ stream, refusal_deltas: true, options: { temperature: 0 } });
    t.same(await handle(request), { ok: true });
    const deltas = replies().frames.flatMap((f) =>
      f.type === 'delta' ? [f.content !== undefined ? { content: f.content } : { refusal: f.refusal }] : [],
    );
    // Streamed, as it comes; else all at once, the refusal after the text.
    const expected = stream
      ? [{ content: 'Well. ' }, { refusal: 'I cannot' }, { refusal: ' help' }]
      : [{ content: 'Well. ' }, { refusal: 'I cannot help' }];
    t.same(deltas, expected, `stream: ${stream}`);
    // History replays all the model said; the refusal is kept apart too, for a stored response.
    t.match((await turns(request.request_id))[0], {
      assistant_response: 'Well. I cannot help',
      refusal: 'I cannot help',
    });
    t.equal(cache.entries.size, 0);
  }
});

t.test('a redelivered request: the same answer gets its done again, another one answer_conflict', async (t) => {
  const { provider, handle, replies, turns } = setup();
  const request = envelope();
  provider.behave = answers('first text');
  await handle(request);
  // Past the response cache, so the model answers again.
  const again = { ...request, cache: 'refresh' as const };
  provider.behave = answers('first text');
  t.same(await handle(again), { ok: true }, 'the same text: done');
  provider.behave = answers('other text');
  t.same(await handle(again), { ok: false, code: 'answer_conflict' });
  t.equal((replies().frames.at(-1) as Extract<ReplyFrame, { type: 'error' }>).error.code, 'answer_conflict');
  const stored = await turns(request.request_id);
  t.equal(stored.length, 1);
  t.equal(stored[0]?.assistant_response, 'first text', 'the delivered answer stays');
});

t.test('a redelivered request calling the same function again gets its done, whatever the call ids', async (t) => {
  const { provider, handle, turns } = setup();
  const calling = () =>
    async function* () {
      // No id from the backend: the worker makes one, a new one each answer.
      yield { type: 'tool_call' as const, call: { name: 'lookup', arguments: '{"q":1}' } };
      yield {
        type: 'done' as const,
        finishReason: 'tool_calls' as const,
        usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
      };
    };
  const request = envelope();
  provider.behave = calling();
  t.same(await handle(request), { ok: true });
  provider.behave = calling();
  t.same(await handle({ ...request, cache: 'refresh' }), { ok: true }, 'the same call: done again, no answer_conflict');
  t.equal((await turns(request.request_id)).length, 1);
});

t.test('a retry sent after the gateway gave up on an attempt replaces the pending turn it left', async (t) => {
  const { provider, handle, turns, receipts } = setup();
  const request = envelope();
  // The first attempt wrote its turn and stalled before its done reached the gateway (or died).
  receipts.mode = 'hold';
  provider.behave = answers('lost answer');
  const first = handle(request);
  await settle();
  t.equal((await turns(request.request_id))[0]?.state, 'pending');
  provider.behave = answers('retried answer');
  const retry = handle({ ...request, attempt: 2, cache: 'refresh' });
  await settle();
  t.same(
    (await turns(request.request_id)).map((row) => [row.state, row.assistant_response]),
    [['pending', 'retried answer']],
    'the pending turn the lost attempt left is replaced, not waited for (no answer_conflict)',
  );
  // The first attempt wakes and hears its answer went nowhere: it discards its own row, not the retry's.
  receipts.held[0]!(false);
  t.same(await first, { ok: false, code: 'not_delivered' });
  t.same(
    (await turns(request.request_id)).map((row) => row.assistant_response),
    ['retried answer'],
  );
  // The first attempt's envelope answered again late (a redelivery): it never replaces a later attempt's turn.
  provider.behave = answers('late answer');
  const late = handle({ ...request, cache: 'refresh' });
  await settle();
  receipts.held[1]!(true);
  t.same(await retry, { ok: true });
  t.same(await late, { ok: false, code: 'answer_conflict' }, 'an earlier attempt gives way to a later one');
  t.same(
    (await turns(request.request_id)).map((row) => [row.state, row.assistant_response, row.attempt]),
    [['committed', 'retried answer', 2]],
  );
});

t.test('a redelivered request replaces a pending turn its dead worker left behind (past pending_until)', async (t) => {
  const { provider, handle, turns, receipts, replies } = setup();
  const request = envelope({ timeout_ms: 1000 });
  receipts.mode = 'silent';
  provider.behave = answers('orphaned');
  // Never settled here: it stands for a worker killed while it waited.
  handle(request).catch(() => undefined);
  await settle();
  // As a worker killed while it waited leaves it: pending, its wait long over.
  await db
    .updateTable('turns')
    .set({ pending_until: 946_684_800_000 })
    .where('request_id', '=', request.request_id)
    .execute();
  receipts.mode = 'deliver';
  provider.behave = answers('answered again');
  t.same(await handle({ ...request, cache: 'refresh' }), { ok: true });
  t.equal(replies().frames.at(-1)?.type, 'done');
  t.same(
    (await turns(request.request_id)).map((row) => [row.state, row.assistant_response]),
    [['committed', 'answered again']],
  );
});

t.test('an unwritable memory is memory_unavailable (503, retryable) before the model is asked', async (t) => {
  const { provider, deps, inFlight, replies } = setup();
  const health = {
    problem: 'SQLITE_FULL: database or disk is full',
    failed: () => undefined,
    probeNow: async () => {},
    stop: () => {},
  };
  const outcome = await handleChatRequest(
    { ...deps, memoryHealth: health, memoryAt: 'DATA_DIR (/data/agentbus)' },
    { data: encodeJson(envelope()), reply: 'inbox' },
    inFlight,
  );
  t.same(outcome, { ok: false, code: 'memory_unavailable' });
  t.equal(provider.calls.length, 0, 'no model call');
  const error = (replies().frames.at(-1) as Extract<ReplyFrame, { type: 'error' }>).error;
  t.match(error, {
    code: 'memory_unavailable',
    status: 503,
    retryable: true,
    message: /DATA_DIR \(\/data\/agentbus\)/,
  });
  t.same(
    replies().frames.map((f) => f.type),
    ['error'],
    'refused before the ack: nothing streamed',
  );
});

t.test('while the probe cannot write, a chat is refused before memory is read at all', async (t) => {
  const { provider, deps, inFlight, replies } = setup();
  // A database whose every query fails: the refusal must come before the session or history read.
  const gone = openMemoryDatabase(memoryDatabasePath(mkdtempSync(join(dir, 'gone-'))));
  await gone.destroy();
  const health = {
    problem: 'database "agentbus" is not currently accepting connections',
    failed: () => undefined,
    probeNow: async () => {},
    stop: () => {},
  };
  const outcome = await handleChatRequest(
    { ...deps, db: gone, memoryHealth: health, memoryAt: 'DATABASE_URL (postgres://agentbus:***@db/agentbus)' },
    { data: encodeJson(envelope()), reply: 'inbox' },
    inFlight,
  );
  t.same(outcome, { ok: false, code: 'memory_unavailable' });
  t.equal(provider.calls.length, 0, 'no model call');
  t.match((replies().frames.at(-1) as Extract<ReplyFrame, { type: 'error' }>).error, {
    code: 'memory_unavailable',
    message: /DATABASE_URL \(postgres:\/\/agentbus:\*\*\*@db\/agentbus\): database "agentbus" is not currently/,
  });
});

t.test('a follow-up sent before the last turn is committed waits for it, and sees it', async (t) => {
  const { provider, receipts, clock, holdFirstTurn, handleWaiting } = setup();
  const { first, firstDone } = await holdFirstTurn();
  // The client has the answer; its receipt is on the way back when the next message arrives.
  provider.behave = answers('Ada');
  const followUp = handleWaiting(
    envelope({
      session_id: first.session_id,
      create_session: false,
      messages: [{ role: 'user', content: 'who am I?' }],
    }),
    2000,
  );
  await clock.advance(20);
  t.equal(provider.calls.length, 1, 'the follow-up waits before reading history');
  t.equal(receipts.held.length, 1, 'the first answer waits for its receipt');
  receipts.mode = 'deliver';
  receipts.held[0]!(true);
  await firstDone;
  await clock.advance(10);
  await followUp;
  const prompt = provider.calls[1]!.messages.map((m) => m.content);
  t.ok(prompt.includes('Hi Ada'), 'the committed turn is in its history');
});

t.test('a follow-up by a completion id still pending waits up to the settle bound in all, heartbeating', async (t) => {
  const { provider, receipts, clock, replies, holdFirstTurn, handleWaiting } = setup();
  const { first, firstDone } = await holdFirstTurn();
  const published = replies().frames.length;
  // The client continues by the completion id whose receipt never comes: the worker keeps the
  // gateway informed with heartbeats while it waits, and gives up at the bound.
  let ended = false;
  const followUp = handleWaiting(
    envelope({ session_id: first.request_id, create_session: false, heartbeat_ms: 200 }),
    1000,
  ).finally(() => (ended = true));
  await clock.advance(990);
  t.notOk(ended, 'it waits for the turn');
  await clock.advance(20);
  await settle();
  t.ok(ended, 'it gave up at the settle bound');
  await followUp;
  const frames = replies().frames.slice(published);
  t.same(
    frames.slice(0, 4).map((f) => f.type),
    ['heartbeat', 'heartbeat', 'heartbeat', 'heartbeat'],
    'a heartbeat every 200 ms meanwhile, so the gateway never thought it lost',
  );
  t.equal(provider.calls.length, 1, 'no model call for a conversation it cannot find');
  t.match(frames.at(-1), { type: 'error', error: { code: 'session_not_found' } });
  receipts.held[0]!(false);
  await firstDone;
});

t.test('a worker slower than a heartbeat to ack sends heartbeats from the request on', async (t) => {
  const { provider, receipts, clock, replies, holdFirstTurn, handleWaiting } = setup();
  const { first, firstDone } = await holdFirstTurn();
  const published = replies().frames.length;
  // The follow-up waits longer than a heartbeat for the first turn's receipt before it can ack.
  provider.behave = answers('Ada');
  const followUp = handleWaiting(
    envelope({ session_id: first.session_id, create_session: false, heartbeat_ms: 200 }),
    300,
  );
  await clock.advance(350);
  await settle();
  const frames = replies().frames.slice(published);
  t.same(
    frames.slice(0, 2).map((f) => f.type),
    ['heartbeat', 'ack'],
    'the gateway heard from it before its silence limit',
  );
  t.same(
    frames.map((f) => f.seq),
    frames.map((_, i) => i),
    'one seq from 0 without gaps',
  );
  receipts.held.forEach((answer) => answer(true));
  await Promise.all([firstDone, followUp]);
});

t.test('a turn another worker committed while this one waited for its receipt counts as committed', async (t) => {
  const { provider, handle, receipts, turns } = setup();
  const request = envelope({ messages: [{ role: 'user', content: 'slow to take my receipt' }] });
  receipts.mode = 'hold';
  provider.behave = answers('answered');
  const outcome = handle(request);
  await settle();
  // The gateway had the memory group commit it (this worker was silent to one try of the receipt).
  t.ok(await commitTurn(db, request.request_id, request.session_id));
  receipts.held[0]!(false);
  t.same(await outcome, { ok: true }, 'not reported as an answer the client never got');
  t.equal((await turns(request.request_id))[0]?.state, 'committed', 'the discard left it alone');
});

t.test('a request stopped while it waits for pending turns stops waiting', async (t) => {
  const { provider, receipts, clock, replies, holdFirstTurn, handleWaiting } = setup();
  const { first, firstDone } = await holdFirstTurn();
  let ended = false;
  const followUp = handleWaiting(
    envelope({ session_id: first.session_id, create_session: false, timeout_ms: 300 }),
    2000,
  ).finally(() => (ended = true));
  await clock.advance(320);
  await settle();
  t.ok(ended, 'its deadline ended the wait, not the 2 s settle bound');
  t.match(await followUp, { ok: false, code: 'deadline_exceeded' });
  t.equal(provider.calls.length, 1, 'the model was not asked');
  t.match(replies().frames.at(-1), { type: 'error', error: { code: 'deadline_exceeded' } });
  receipts.held[0]!(false);
  await firstDone;
});

t.test('the wait for a pending completion id and for the conversation share one deadline', async (t) => {
  const { handle, receipts, clock, replies, holdFirstTurn, handleWaiting } = setup();
  const { first, firstDone } = await holdFirstTurn();
  // Another turn of the same conversation, whose receipt never comes.
  const other = envelope({ session_id: first.session_id, create_session: false });
  const otherDone = handle(other);
  await settle();
  const followUp = envelope({ session_id: first.request_id, create_session: false });
  const followUpDone = handleWaiting(followUp, 1000);
  const acked = () => replies().frames.some((f) => f.request_id === followUp.request_id && f.type === 'ack');
  await clock.advance(600);
  receipts.held[0]!(true); // the completion id's turn is committed 600 ms in
  await clock.advance(350);
  t.notOk(acked(), "then it waits for the conversation's other pending turn");
  await clock.advance(100);
  await settle();
  t.ok(acked(), 'for the 400 ms left of one deadline, not a fresh 1,000');
  receipts.held.slice(1).forEach((answer) => answer(false));
  await clock.advance(10);
  receipts.held.slice(2).forEach((answer) => answer(false));
  await Promise.all([firstDone, otherDone, followUpDone]);
});
