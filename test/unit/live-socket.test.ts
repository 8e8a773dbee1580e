import t from 'tap';
import { noSuchResponseMessage, type ReplyFrame } from '../../bus-schemas/index.js';
import { loadCatalog, type Catalog } from '../../common/catalog.js';
import type { Caller } from '../../gateway/auth/caller.js';
import { openCall, type CallScope } from '../../gateway/call/call.js';
import type { ChatInput, ChatOrigin, StartedChat } from '../../gateway/chat/types.js';
import { loadGatewayConfig } from '../../gateway/config.js';
import { chargeInputBytes } from '../../gateway/chat/admit.js';
import { createRateLimiter } from '../../gateway/rate-limit/rate-limiter.js';
import { rateTiersFrom } from '../../gateway/rate-limit/rate-tiers.js';
import { CLOSE_CODES, LiveSession } from '../../gateway/websocket/live-socket.js';
import type { SocketPort } from '../../gateway/websocket/socket-port.js';
import { FakeBus } from '../helpers/fake-bus.js';
import { FakeClock, settle } from '../helpers/fake-clock.js';
import { FrameMaker, untilClosed } from '../helpers/frames.js';
import { recordingLogger } from '../helpers/fake-provider.js';
import { MemoryTenantStore } from '../helpers/memory-tenant-store.js';

// One live WebSocket session as a state machine: a fake port (our seam over ws), a fake
// startChat (our seam over the pipeline), a fake clock.

const config = loadGatewayConfig({ WS_MAX_INFLIGHT: '2', WS_AUTH_TIMEOUT_MS: '5000', WS_PING_INTERVAL_MS: '30000' });
const catalog = loadCatalog(config.agentsFile, 'llama3.2');
const everyone: Caller = { tenant: 't-all', name: 'all', agents: null, tier: 'unlimited', private: false };
const scoped: Caller = { tenant: 't-cr', name: 'cr', agents: ['code_review'], tier: 'unlimited', private: false };

class FakePort implements SocketPort {
  open = true;
  bufferedAmount = 0;
  readonly sent: Array<Record<string, unknown>> = [];
  closedWith: [number, string] | undefined;
  terminated = false;
  pings = 0;
  paused = false;
  send(text: string, onSent?: (err?: Error) => void) {
    this.sent.push(JSON.parse(text) as Record<string, unknown>);
    if (onSent) queueMicrotask(() => onSent());
  }
  close(code: number, reason: string) {
    this.closedWith = [code, reason];
    this.open = false;
  }
  terminate() {
    this.terminated = true;
    this.open = false;
  }
  ping() {
    this.pings++;
  }
  pause() {
    this.paused = true;
  }
  resume() {
    this.paused = false;
  }
  of(type: string) {
    return this.sent.filter((frame) => frame['type'] === type);
  }
}

type Script = (scope: CallScope) => AsyncIterable<ReplyFrame>;

function session(
  options: {
    caller?: Caller;
    keys?: Record<string, Caller>;
    scripts?: Script[];
    catalog?: Catalog;
    /** The byte budget's charge; default: every frame fits, its size recorded in `charged`. */
    chargeBytes?: (caller: Caller, bytes: number) => Promise<void>;
  } = {},
) {
  const clock = new FakeClock();
  const port = new FakePort();
  const keys = new Map(Object.entries(options.keys ?? { 'key-all': everyone, 'key-cr': scoped }));
  const started: Array<{ input: ChatInput; origin: ChatOrigin; scope?: CallScope }> = [];
  // Each admission, and how it was released (a refund: a refused request).
  const admitted: Array<{ refunded?: boolean }> = [];
  // Each frame's bytes, as charged to the key's byte budget when it arrived.
  const charged: number[] = [];
  let keyListener: (() => void) | undefined;
  const { log, lines } = recordingLogger();
  const live = new LiveSession({
    port,
    config,
    catalog: options.catalog ?? catalog,
    clock,
    log,
    caller: options.caller,
    apiKey: options.caller ? [...keys].find(([, c]) => c === options.caller)?.[0] : undefined,
    callerFor: (key) => keys.get(key),
    // No stored responses: these tests send no item_reference items.
    storedTurns: () => () => Promise.resolve(undefined),
    onKeysChange: (listener) => {
      keyListener = listener;
      return () => (keyListener = undefined);
    },
    chargeBytes:
      options.chargeBytes ??
      ((_caller, bytes) => {
        charged.push(bytes);
        return Promise.resolve();
      }),
    admit: () => {
      const entry: (typeof admitted)[number] = {};
      admitted.push(entry);
      return Promise.resolve({
        headers: {},
        release: (options) => {
          entry.refunded = options?.refund === true;
          return Promise.resolve();
        },
        charge: () => Promise.resolve({}),
        chargeBytes: () => Promise.resolve(),
      });
    },
    startChat: (input, origin) => {
      const entry: (typeof started)[number] = { input, origin };
      started.push(entry);
      const script = options.scripts?.[started.length - 1];
      if (!script) throw new Error('no script for this request');
      const call = openCall((scope) => {
        entry.scope = scope;
        return script(scope);
      });
      const chat: StartedChat = {
        call,
        identity: { id: `chatcmpl-${started.length}`, created: 0, model: 'testing' },
        sessionId: 'conv_1',
        headers: {},
        log,
        private: false,
      };
      return Promise.resolve(chat);
    },
  });
  const receive = async (frame: unknown) => {
    live.receive(Buffer.from(JSON.stringify(frame)), false);
    await settle();
  };
  return { live, port, clock, started, admitted, charged, keys, lines, receive, revoke: () => keyListener?.() };
}

const chat = (id: string, extra: Record<string, unknown> = {}) => ({
  type: 'chat',
  id,
  agent: 'code_review',
  messages: [{ role: 'user', content: 'hi' }],
  ...extra,
});

const answer = (text: string): Script => {
  const f = new FrameMaker();
  return async function* () {
    yield f.ack();
    yield f.delta(text);
    yield f.done();
  };
};

t.test('a socket authenticated by its upgrade request is told its agents at once', async (t) => {
  const { port } = session({ caller: scoped });
  const [ready] = port.of('ready');
  t.same(
    (ready?.['agents'] as Array<{ name: string }>).map((a) => a.name),
    ['code_review'],
  );
  t.equal(ready?.['max_inflight'], 2);
});

t.test('ready lists chat agents only: a frame cannot ask an embedding agent', async (t) => {
  const withEmbeddings = loadCatalog('test/e2e/fixtures/embedding-agents.json', 'llama3.2');
  const { port } = session({ caller: everyone, catalog: withEmbeddings });
  const [ready] = port.of('ready');
  t.same(
    (ready?.['agents'] as Array<{ name: string }>).map((a) => a.name),
    ['testing'],
  );
});

t.test('without an auth frame in time the socket is closed with 4408', async (t) => {
  const { port, clock } = session();
  await clock.advance(4999);
  t.equal(port.closedWith, undefined);
  await clock.advance(1);
  t.equal(port.closedWith?.[0], CLOSE_CODES.authTimeout);
  t.equal((port.of('error')[0]?.['error'] as { code: string }).code, 'invalid_api_key');
});

t.test('an auth frame: a wrong key closes with 4401, a right one gets ready', async (t) => {
  const wrong = session();
  await wrong.receive({ type: 'auth', api_key: 'nope' });
  t.equal(wrong.port.closedWith?.[0], CLOSE_CODES.authFailed);
  const right = session();
  await right.receive({ type: 'auth', api_key: 'key-all' });
  t.equal(right.port.of('ready').length, 1);
  await right.clock.advance(10_000);
  t.equal(right.port.closedWith, undefined, 'the auth timer was stopped');
});

t.test('chat frames before auth are refused; ping is answered', async (t) => {
  const { port, receive, started } = session();
  await receive({ type: 'ping', id: 'p1' });
  t.same(port.of('pong'), [{ type: 'pong', id: 'p1' }]);
  await receive(chat('r1'));
  t.equal((port.of('error')[0]?.['error'] as { code: string }).code, 'invalid_api_key');
  t.equal(started.length, 0);
});

t.test('a request is relayed as tagged delta frames and one done frame', async (t) => {
  const { port, receive, started } = session({ caller: everyone, scripts: [answer('hello')] });
  await receive(chat('r1', { session_id: 'conv_x', private: true, priority: 'high', timeout_ms: 5000 }));
  await settle();
  t.same(port.of('delta'), [{ type: 'delta', id: 'r1', seq: 0, content: 'hello' }]);
  const [done] = port.of('done');
  t.match(done, { id: 'r1', seq: 1, completion_id: 'chatcmpl-1', conversation_id: 'conv_test' });
  const { input, origin } = started[0]!;
  t.equal(input.model, 'code_review', "the frame's agent is the body's model");
  t.equal(input.stream, true);
  t.match(origin, { sessionToContinue: 'conv_x', hints: { private: true, priority: 'high', timeoutMs: 5000 } });
});

t.test('limits: WS_MAX_INFLIGHT requests at once, one id at a time', async (t) => {
  const hang: Script = (scope) => untilClosed(scope, [new FrameMaker().ack()]);
  const { port, receive, started } = session({ caller: everyone, scripts: [hang, hang, hang] });
  await receive(chat('a'));
  await receive(chat('a'));
  const duplicate = port.of('error').at(-1)!;
  t.equal(duplicate['id'], null, 'refused untagged: it must not end the request in flight');
  await receive(chat('b'));
  await receive(chat('c'));
  const tooMany = port.of('error').at(-1)!;
  t.match(tooMany, { id: 'c', seq: 0, error: { code: 'too_many_concurrent_requests' } });
  t.equal(started.length, 2);
});

t.test('a cancel frame cancels on the worker, which says how the request ended', async (t) => {
  let confirm!: () => void;
  const f = new FrameMaker();
  const script: Script = async function* () {
    yield f.ack();
    await new Promise<void>((resolve) => (confirm = resolve));
    yield f.error('request_cancelled', 'Cancelled by the requester');
  };
  const { port, receive, started } = session({ caller: everyone, scripts: [script] });
  await receive(chat('r1'));
  await receive({ type: 'cancel', id: 'r1' });
  t.ok(started[0]!.scope?.cancelled.aborted, "the call's scope is cancelled");
  confirm();
  await settle();
  t.match(port.of('error').at(-1), { id: 'r1', error: { code: 'request_cancelled' } });
});

t.test('the socket closing closes every call in flight', async (t) => {
  const hang: Script = (scope) => untilClosed(scope, [new FrameMaker().ack()]);
  const { live, receive, started } = session({ caller: everyone, scripts: [hang, hang] });
  await receive(chat('a'));
  await receive(chat('b'));
  live.socketClosed(1006);
  await settle();
  t.ok(started.every((entry) => entry.scope?.closed.aborted));
  t.equal(live.inFlight, 0);
});

t.test('a peer that misses a ping is dropped, and its calls closed', async (t) => {
  const hang: Script = (scope) => untilClosed(scope, [new FrameMaker().ack()]);
  const { live, port, clock, receive, started } = session({ caller: everyone, scripts: [hang] });
  await receive(chat('a'));
  await clock.advance(30_000);
  t.equal(port.pings, 1);
  live.pong();
  await clock.advance(30_000);
  t.equal(port.pings, 2, 'answered: pinged again');
  await clock.advance(30_000);
  t.ok(port.terminated, 'no pong: dropped');
  t.ok(started[0]!.scope?.closed.aborted);
});

t.test('a key revoked while the socket is open: an error frame, then 4401', async (t) => {
  const { port, keys, revoke } = session({ caller: everyone });
  keys.delete('key-all');
  revoke();
  t.match(port.of('error').at(-1), { id: null, error: { code: 'invalid_api_key' } });
  t.equal(port.closedWith?.[0], CLOSE_CODES.authFailed);
});

t.test('drain: new requests are refused, and it resolves when those in flight end', async (t) => {
  let finish!: () => void;
  const f = new FrameMaker();
  const slow: Script = async function* () {
    yield f.ack();
    await new Promise<void>((resolve) => (finish = resolve));
    yield f.done();
  };
  const { live, port, lines, receive } = session({ caller: everyone, scripts: [slow] });
  await receive(chat('a'));
  let drained = false;
  const draining = live.drain().then(() => (drained = true));
  await receive(chat('b'));
  t.match(port.of('error').at(-1), { id: 'b', error: { code: 'bus_unavailable' } });
  // Logged as HTTP logs a retryable 5xx: a warning, not an error for someone to chase on every deploy.
  t.match(lines, [{ level: 40, msg: 'WebSocket frame failed', err: { code: 'bus_unavailable' } }]);
  t.notOk(lines.some((line) => (line['level'] as number) >= 50));
  t.equal(drained, false);
  finish();
  await draining;
  t.equal(port.of('done').length, 1, 'the request in flight finished');
});

t.test('a reader too far behind is closed with 4008', async (t) => {
  const { port, receive } = session({ caller: everyone, scripts: [answer('x')] });
  port.bufferedAmount = config.wsMaxBufferedBytes + 1;
  await receive({ type: 'ping' });
  t.equal(port.closedWith?.[0], CLOSE_CODES.slowReader);
});

t.test('a bad frame is answered and forgotten; the socket carries on', async (t) => {
  const { live, port, receive } = session({ caller: everyone, scripts: [answer('still here')] });
  live.receive(Buffer.from('{not json'), false);
  await settle();
  t.equal((port.of('error')[0]?.['error'] as { code: string }).code, 'invalid_json');
  await receive(chat('ok'));
  await settle();
  t.equal(port.of('done').length, 1);
});

t.test('a frame the input checks refuse is admitted first: its token comes back, its bytes are spent', async (t) => {
  const { port, receive, started, admitted, charged } = session({ caller: everyone, scripts: [answer('ok')] });
  await receive(chat('bad', { messages: [{ role: 'user', content: 'x'.repeat(2_000_000) }] }));
  t.match(port.of('error')[0], { id: 'bad', error: { code: 'message_too_long' } });
  t.equal(started.length, 0);
  t.equal(admitted.length, 1);
  t.ok(charged[0]! > 2_000_000, "the frame's bytes were counted");
  t.equal(admitted[0]!.refunded, true, 'its request token given back');
  await receive(chat('good'));
  await settle();
  t.equal(started[0]!.origin.admission !== undefined, true, 'the chat takes the admission made for its frame');
});

t.test('response.create: Responses events tagged with the id; the completed frame delivers the turn', async (t) => {
  const { port, receive, started } = session({ caller: everyone, scripts: [answer('hello')] });
  await receive({
    type: 'response.create',
    id: 'r1',
    agent: 'code_review',
    previous_response_id: 'resp_prev',
    input: 'hi',
    instructions: 'Be brief.',
  });
  await settle();
  const mine = port.sent.filter((frame) => frame['id'] === 'r1');
  t.same(
    mine.map((frame) => frame['type']),
    [
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ],
  );
  t.same(
    mine.map((frame) => frame['sequence_number']),
    mine.map((_, i) => i),
  );
  t.match(mine.at(-1), { response: { status: 'completed', instructions: 'Be brief.' } });
  const { input, origin, scope } = started[0]!;
  t.equal(input.idPrefix, 'resp_');
  t.match(input.messages, [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'hi' },
  ]);
  t.equal(origin.sessionToContinue, 'resp_prev');
  t.ok(scope?.delivered.aborted, 'the turn may be committed once response.completed was sent');
});

t.test('response.create failing: an error frame before the first event, response.failed after', async (t) => {
  const early = new FrameMaker();
  const late = new FrameMaker();
  const scripts: Script[] = [
    async function* () {
      yield early.ack();
      yield early.error('session_not_found', 'No conversation "resp_gone" for this key.');
    },
    async function* () {
      yield late.ack();
      yield late.delta('par');
      yield late.error('backend_error', 'the model went away');
    },
  ];
  const { port, receive, started } = session({ caller: everyone, scripts });
  await receive({ type: 'response.create', id: 'e1', input: 'hi', previous_response_id: 'resp_gone' });
  await receive({ type: 'response.create', id: 'e2', input: 'hi' });
  await settle();
  const first = port.sent.filter((frame) => frame['id'] === 'e1');
  t.same(first, [
    {
      type: 'error',
      id: 'e1',
      seq: 0,
      error: {
        message: noSuchResponseMessage('resp_gone'),
        type: 'invalid_request_error',
        param: 'previous_response_id',
        code: 'response_not_found',
      },
    },
  ]);
  const second = port.sent.filter((frame) => frame['id'] === 'e2');
  t.match(second.at(-1), { type: 'response.failed', response: { error: { code: 'backend_error' } } });
  t.notOk(
    second.some((frame) => frame['type'] === 'error'),
    'one terminal frame',
  );
  t.notOk(started[1]!.scope?.delivered.aborted, 'nothing delivered: the turn is not committed');
});

t.test('a chat frame passes store: false on, as the HTTP body does', async (t) => {
  const { receive, started } = session({ caller: everyone, scripts: [answer('a'), answer('b')] });
  await receive(chat('s1', { store: false }));
  await receive(chat('s2', { store: true }));
  await settle();
  t.equal(started[0]!.input.store, false);
  t.equal(started[1]!.input.store, undefined, 'store: true is the default: memory keeps the turn');
});

t.test("response.create: a worker's refusal names the Responses field, before and after the first event", async (t) => {
  const early = new FrameMaker();
  const late = new FrameMaker();
  const scripts: Script[] = [
    async function* () {
      yield early.ack();
      const refusal = early.error('invalid_request', 'The provider does not support response_format.');
      if (refusal.type === 'error') refusal.error.param = 'response_format';
      yield refusal;
    },
    async function* () {
      yield late.ack();
      yield late.delta('par');
      yield late.error('invalid_request', 'raise max_tokens');
    },
  ];
  const { port, receive } = session({ caller: everyone, scripts });
  await receive({ type: 'response.create', id: 'f1', input: 'hi', text: { format: { type: 'json_object' } } });
  await receive({ type: 'response.create', id: 'f2', input: 'hi' });
  await settle();
  t.match(
    port.sent.find((frame) => frame['id'] === 'f1'),
    {
      type: 'error',
      error: { param: 'text.format', message: 'The provider does not support text.format.' },
    },
  );
  const failed = port.sent.filter((frame) => frame['id'] === 'f2').at(-1);
  t.match(failed, { type: 'response.failed', response: { error: { message: 'raise max_output_tokens' } } });
});

t.test("response.create with a chat frame's session_id: refused by name, nothing started", async (t) => {
  const { port, receive, started } = session({ caller: everyone, scripts: [] });
  await receive({ type: 'response.create', id: 's1', input: 'hi', session_id: 'conv_x' });
  await settle();
  t.match(
    port.sent.filter((frame) => frame['id'] === 's1'),
    [
      {
        type: 'error',
        id: 's1',
        error: { code: 'invalid_request', param: 'session_id', message: /previous_response_id/ },
      },
    ],
  );
  t.equal(started.length, 0, 'no request started');
});

// The byte budget of a real limiter over an in-memory store: the refusals are those an HTTP body gets.
const budgeted: Caller = { tenant: 't-small', name: 'small', agents: null, tier: 'small', private: false };
function byteBudget(maxInputBytes: number) {
  const tiers = rateTiersFrom({ tiers: { small: { max_input_bytes: maxInputBytes }, unlimited: {} } });
  const { log } = recordingLogger();
  const store = new MemoryTenantStore();
  const rateLimiter = createRateLimiter({ bus: new FakeBus(), tiers, bucket: 'rl_unit', opTimeoutMs: 500, log, store });
  return (caller: Caller, bytes: number) => chargeInputBytes({ rateLimiter }, caller, bytes);
}
const sizeOf = (frame: unknown) => Buffer.byteLength(JSON.stringify(frame));

t.test('every frame spends its bytes before its checks: a flood of invalid frames meets the budget', async (t) => {
  const { port, receive, started, admitted } = session({
    caller: budgeted,
    keys: { 'key-small': budgeted },
    chargeBytes: byteBudget(3000),
  });
  // ~1,450 bytes each, refused by the frame schema (messages must be an array): two leave ~100 bytes.
  const invalid = (id: string) => chat(id, { messages: 'x'.repeat(1370) });
  t.ok(sizeOf(invalid('a')) > 1400 && sizeOf(invalid('a')) < 1500);
  for (const id of ['a', 'b', 'c']) await receive(invalid(id));
  const [a, b, c] = port.of('error');
  t.match(a, { id: 'a', seq: 0, error: { code: 'invalid_request', param: 'messages', type: 'invalid_request_error' } });
  t.match(b, { id: 'b', seq: 0, error: { code: 'invalid_request' } });
  t.match(c, {
    id: 'c',
    seq: 0,
    retry_after: Number,
    error: { code: 'rate_limit_exceeded', message: /Input limit reached for key "small": 3000 bytes per minute/ },
  });
  await receive(chat('d', { messages: [{ role: 'user', content: 'y'.repeat(200) }] }));
  t.match(port.of('error').at(-1), { id: 'd', seq: 0, error: { code: 'rate_limit_exceeded' } });
  await receive({ type: 'ping', id: 'p1', padding: 'z'.repeat(200) });
  t.match(port.of('error').at(-1), { id: null, error: { code: 'rate_limit_exceeded' } });
  t.notMatch(port.of('error').at(-1), { seq: Number }, 'a ping is no request: its refusal ends none');
  t.same(port.of('pong'), []);
  t.equal(admitted.length, 0, 'nothing admitted');
  t.equal(started.length, 0, 'nothing started');
});

t.test('a frame larger than the whole budget is 413, as an HTTP body is', async (t) => {
  const { port, receive } = session({
    caller: budgeted,
    keys: { 'key-small': budgeted },
    chargeBytes: byteBudget(500),
  });
  await receive(chat('big', { messages: [{ role: 'user', content: 'x'.repeat(600) }] }));
  const [refused] = port.of('error');
  t.match(refused, { id: 'big', seq: 0, error: { code: 'request_too_large', message: /may send 500 bytes/ } });
  t.notOk(refused && 'retry_after' in refused, 'no use retrying');
});

t.test('over the budget, a cancel is still applied: it only stops work', async (t) => {
  const hang: Script = (scope) => untilClosed(scope, [new FrameMaker().ack()]);
  const first = chat('r1', { messages: [{ role: 'user', content: '' }] });
  // Exactly the budget: the cancel that follows finds none left.
  const padded = chat('r1', { messages: [{ role: 'user', content: 'x'.repeat(3000 - sizeOf(first)) }] });
  t.equal(sizeOf(padded), 3000);
  const { port, receive, started } = session({
    caller: budgeted,
    keys: { 'key-small': budgeted },
    scripts: [hang],
    chargeBytes: byteBudget(3000),
  });
  await receive(padded);
  await receive({ type: 'cancel', id: 'r1' });
  t.ok(started[0]!.scope?.cancelled.aborted, 'cancelled on the worker');
  t.same(port.of('error'), [], 'and not refused');
});

t.test('frames wait for their charge in order, and the socket is not read meanwhile', async (t) => {
  const gates: Array<() => void> = [];
  const hang: Script = (scope) => untilClosed(scope, [new FrameMaker().ack()]);
  const { live, port, started } = session({
    caller: everyone,
    scripts: [hang],
    chargeBytes: () => new Promise<void>((resolve) => gates.push(resolve)),
  });
  live.receive(Buffer.from(JSON.stringify(chat('r1'))), false);
  live.receive(Buffer.from(JSON.stringify({ type: 'cancel', id: 'r1' })), false);
  await settle();
  t.ok(port.paused, 'paused while a frame waits for its charge');
  t.equal(gates.length, 1, 'one charge at a time');
  t.equal(started.length, 0, 'nothing handled before its bytes are charged');
  gates.shift()!();
  await settle();
  t.equal(started.length, 1, 'the chat, first');
  t.notOk(started[0]!.scope?.cancelled.aborted);
  gates.shift()!();
  await settle();
  t.ok(started[0]!.scope?.cancelled.aborted, 'then the cancel');
  t.notOk(port.paused, 'read again once nothing waits');
});
