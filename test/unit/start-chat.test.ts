import t from 'tap';
import {
  decodeChatRequest,
  encodeJson,
  subjectsFor,
  type ChatRequest,
  type ReplyFrame,
} from '../../bus-schemas/index.js';
import { loadCatalog } from '../../common/catalog.js';
import { loadRedactor } from '../../common/redaction.js';
import type { Caller } from '../../gateway/auth/caller.js';
import type { KeyStore } from '../../gateway/auth/key-store.js';
import { collectAnswer } from '../../gateway/call/collect-answer.js';
import type { ChatRouter } from '../../gateway/chat/choose-agents.js';
import { startChatCall } from '../../gateway/chat/start-chat.js';
import type { ChatDeps, ChatInput, ChatOrigin } from '../../gateway/chat/types.js';
import { loadGatewayConfig } from '../../gateway/config.js';
import type { AdmissionRequest, RateLimiter } from '../../gateway/rate-limit/rate-limiter.js';
import type { TraceEntry, TraceLog } from '../../gateway/trace-log/trace-log.js';
import { FakeBus } from '../helpers/fake-bus.js';
import { FakeClock, settle } from '../helpers/fake-clock.js';
import { bytesOf, FrameMaker } from '../helpers/frames.js';
import { recordingLogger } from '../helpers/fake-provider.js';

// The four stages together (admit → prepare → route → dispatch) against a fake bus whose
// "workers" answer from the test, a fake rate limiter and a fake router: our own seams.

const config = loadGatewayConfig({ HEARTBEAT_MS: '200', FIRST_TOKEN_TIMEOUT_MS: '1000' });
const catalog = loadCatalog(config.agentsFile, 'llama3.2');
const subjects = subjectsFor(config.subjectPrefix);
const everyone: Caller = { tenant: 't-all', name: 'all', agents: null, tier: 'standard', private: false };

function setup(options: { routeTo?: string[]; refuse?: boolean; refuseCharge?: boolean } = {}) {
  const clock = new FakeClock();
  const bus = new FakeBus('gateway', clock);
  const admitted: AdmissionRequest[] = [];
  const charged: number[] = [];
  let released = 0;
  const refunds: boolean[] = [];
  const rateLimiter: RateLimiter = {
    tiers: undefined as never,
    chargeBytes: () => Promise.resolve(),
    admit: (request) => {
      admitted.push(request);
      if (options.refuse) return Promise.reject(new Error('429 (test)'));
      return Promise.resolve({
        headers: { 'x-ratelimit-limit-requests': '10' },
        release: (how?: { refund?: boolean }) => {
          refunds.push(how?.refund === true);
          return Promise.resolve(void released++);
        },
        charge: (calls) => {
          charged.push(calls);
          if (options.refuseCharge) return Promise.reject(new Error('429 for the fan-out (test)'));
          return Promise.resolve({ 'x-ratelimit-limit-requests': '10', 'x-ratelimit-remaining-requests': '7' });
        },
        chargeBytes: () => Promise.resolve(),
      });
    },
  };
  const routed: string[] = [];
  const router: ChatRouter = {
    route: (text) => {
      routed.push(text);
      const agents = options.routeTo ?? ['documentation'];
      return Promise.resolve({ agents, by: 'rule', rule: 'test', reason: 'test rule' });
    },
  };
  const traced: TraceEntry[] = [];
  const traceLog: TraceLog = {
    record: (entry) => traced.push(entry),
    flush: async () => undefined,
    close: async () => undefined,
  };
  const deps: ChatDeps = {
    bus,
    catalog,
    subjects,
    config,
    traceLog,
    router,
    redactor: loadRedactor(config.secretPatternsFile),
    keys: undefined as unknown as KeyStore,
    rateLimiter,
    clock,
  };
  /** Workers for `agents`, answering each request with `text` (or the given frames). */
  const serve = (agents: string[], reply: (request: ChatRequest) => (f: FrameMaker) => ReplyFrame[]) => {
    const envelopes: ChatRequest[] = [];
    for (const agent of agents) {
      bus.subscribe(subjects.chat(agent), {
        queue: agent,
        callback: (_err, msg) => {
          const request = decodeChatRequest(msg.data);
          envelopes.push(request);
          for (const frame of reply(request)(new FrameMaker(request.request_id)))
            bus.publish(msg.reply!, bytesOf(frame));
        },
      });
    }
    return envelopes;
  };
  const { log } = recordingLogger();
  const origin = (extra: Partial<ChatOrigin> = {}): ChatOrigin => ({
    caller: everyone,
    log,
    sessionToContinue: undefined,
    traceparent: undefined,
    refreshCache: false,
    hints: { private: false },
    ...extra,
  });
  return { bus, deps, admitted, charged, released: () => released, refunds, routed, traced, serve, origin, clock };
}

const input = (model: string | undefined, text = 'hello', extra: Partial<ChatInput> = {}): ChatInput => ({
  model,
  messages: [{ role: 'user', content: text }],
  options: {},
  stream: true,
  ...extra,
});

const answering = (text: string) => () => (f: FrameMaker) => [f.ack(), f.delta(text), f.done()];

t.test('a named agent: one envelope on its subject, the answer, the slot freed at the end', async (t) => {
  const { deps, admitted, released, routed, traced, serve, origin } = setup();
  const envelopes = serve(['code_review'], answering('reviewed'));
  const chat = await startChatCall(deps, input('code_review'), origin());
  t.equal(admitted.length, 1);
  t.same(routed, [], 'the router is not asked');
  t.equal(chat.identity.model, 'code_review');
  t.match(chat.headers, { 'x-request-id': chat.identity.id, 'x-ratelimit-limit-requests': '10' });
  const answer = await collectAnswer(chat.call.frames);
  t.equal(answer.content, 'reviewed');
  t.match(answer.done.meta.routing, { by: 'model', agents: ['code_review'] });
  t.equal(released(), 1);
  const [envelope] = envelopes;
  t.match(envelope, { request_id: chat.identity.id, intent: 'code_review', tenant: 't-all', create_session: true });
  t.match(envelope?.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/, 'a new trace');
  await settle(); // the trace line follows the event-loop turn that wrote the answer
  t.equal(traced.length, 1, 'one trace line');
  t.match(traced[0], { agent: 'code_review', status: 200, prompt: 'hello' });
});

t.test('an unknown or out-of-scope agent is refused after admission, and its token given back', async (t) => {
  const { deps, admitted, refunds, released, bus, origin } = setup();
  await t.rejects(startChatCall(deps, input('nope'), origin()), { code: 'model_not_found' });
  const scoped: Caller = { ...everyone, agents: ['testing'] };
  await t.rejects(startChatCall(deps, input('code_review'), origin({ caller: scoped })), { code: 'agent_not_allowed' });
  t.equal(admitted.length, 2, 'admitted from the key alone, before the body is looked at');
  t.equal(released(), 2, 'each slot freed');
  t.same(refunds, [true, true], 'each token refunded: nothing was published');
  t.same(bus.published, [], 'nothing published');
});

t.test('a speech or transcription model name is not a chat model: 400 naming model, not 404', async (t) => {
  const { deps, bus, origin } = setup();
  for (const [model, what] of [
    ['tts-1', /"tts-1" is a speech model \(POST \/v1\/audio\/speech\) of the voice agent "voice_processor"/],
    ['whisper-1', /"whisper-1" is a transcription model/],
  ] as const)
    await t.rejects(startChatCall(deps, input(model), origin()), {
      code: 'invalid_request',
      param: 'model',
      message: new RegExp(`^This is not a chat model: ${what.source}`),
    });
  const scoped: Caller = { ...everyone, agents: ['testing'] };
  await t.rejects(startChatCall(deps, input('tts-1'), origin({ caller: scoped })), { code: 'agent_not_allowed' });
  t.same(bus.published, [], 'nothing published');
});

t.test('store: false reaches the envelope; with a session to continue it is refused, not ignored', async (t) => {
  const { deps, bus, origin, serve, refunds } = setup();
  const envelopes = serve(['code_review'], answering('ok'));
  await collectAnswer((await startChatCall(deps, input('code_review', 'x', { store: false }), origin())).call.frames);
  t.equal(envelopes[0]?.store, false, 'the worker is told: no session, no turn, no cache entry');
  await collectAnswer((await startChatCall(deps, input('code_review'), origin())).call.frames);
  t.equal(envelopes[1]?.store, undefined, 'stored by default');
  const published = bus.published.length;
  await t.rejects(
    startChatCall(deps, input('code_review', 'x', { store: false }), origin({ sessionToContinue: 'conv_1' })),
    { code: 'invalid_request', param: 'store', message: /cannot continue the session/ },
  );
  t.equal(bus.published.length, published, 'nothing published');
  t.equal(refunds.at(-1), true, 'its token given back');
});

t.test('a tool result that answers no tool call is refused before anything is published', async (t) => {
  const { deps, bus, origin } = setup();
  const tool = { role: 'tool' as const, content: 'r', tool_call_id: 'call_1' };
  const messages = [{ role: 'user' as const, content: 'q' }, tool];
  await t.rejects(startChatCall(deps, input('code_review', 'x', { messages }), origin()), {
    code: 'invalid_request',
    param: 'messages[1].role',
  });
  await t.rejects(startChatCall(deps, input('code_review', 'x', { messages: [tool] }), origin()), {
    code: 'invalid_request',
    param: 'messages[0].role',
  });
  t.same(bus.published, []);
});

t.test('an admission taken before the body (HTTP) is used as is, not taken again', async (t) => {
  const { deps, admitted, serve, origin, released } = setup();
  serve(['code_review'], answering('ok'));
  let early = 0;
  const admission = {
    headers: { 'x-early': '1' },
    release: () => Promise.resolve(void early++),
    charge: () => Promise.resolve({}),
    chargeBytes: () => Promise.resolve(),
  };
  const chat = await startChatCall(deps, input('code_review'), origin({ admission }));
  t.equal(admitted.length, 0, 'the limiter is not asked again');
  t.match(chat.headers, { 'x-early': '1' });
  await collectAnswer(chat.call.frames);
  t.equal(early, 1, 'the call frees the early admission');
  t.equal(released(), 0);
});

t.test('a refusal of the limiter publishes nothing', async (t) => {
  const { deps, bus, origin } = setup({ refuse: true });
  await t.rejects(startChatCall(deps, input('code_review'), origin()), /429/);
  t.same(bus.published, []);
});

t.test('auto: the router chooses; a client gone meanwhile frees the slot and publishes nothing', async (t) => {
  const { deps, bus, released, routed, origin, serve } = setup({ routeTo: ['documentation'] });
  serve(['documentation'], answering('docs'));
  const chat = await startChatCall(deps, input('auto', 'write the docs'), origin());
  t.same(routed, ['write the docs']);
  t.equal((await collectAnswer(chat.call.frames)).done.meta.routing?.by, 'rule');
  const gone = new AbortController();
  gone.abort();
  const published = bus.published.length;
  await t.rejects(startChatCall(deps, input(undefined), origin({ signal: gone.signal })), {
    code: 'request_cancelled',
  });
  t.equal(released(), 2, 'freed by the pipeline when routing failed');
  t.equal(bus.published.length, published, 'nothing published for nobody');
});

t.test('a secret in the input makes the request private; a timeout hint shortens the deadline', async (t) => {
  const { deps, origin, serve } = setup();
  const envelopes = serve(['code_review'], answering('ok'));
  const chat = await startChatCall(
    deps,
    input('code_review', 'my key is AKIAIOSFODNN7EXAMPLE'),
    origin({ hints: { private: false, timeoutMs: 5000 } }),
  );
  await collectAnswer(chat.call.frames);
  t.equal(envelopes[0]?.private, true);
  t.equal(envelopes[0]?.timeout_ms, 5000);
});

t.test("an SDK's own timeout bounds a JSON answer, not a stream the SDK reads on without one", async (t) => {
  const { deps, origin, serve } = setup();
  const envelopes = serve(['code_review'], answering('ok'));
  const hints = { private: false, timeoutMs: 5000, timeoutUntilHeaders: true as const };
  for (const stream of [false, true]) {
    const chat = await startChatCall(deps, input('code_review', 'hello', { stream }), origin({ hints }));
    await collectAnswer(chat.call.frames);
  }
  t.equal(envelopes[0]?.timeout_ms, 5000, 'JSON: its headers come with the whole answer');
  t.equal(envelopes[1]?.timeout_ms, config.requestTimeoutMs, "a stream: the SDK's wait ended at its first bytes");
});

t.test('a fan-out route asks each agent under its own request id and answers in sections', async (t) => {
  const { deps, origin, serve } = setup({ routeTo: ['code_review', 'testing'] });
  const envelopes = serve(['code_review', 'testing'], (request) => (f) => [f.ack(), f.delta(request.intent), f.done()]);
  const chat = await startChatCall(deps, input(undefined), origin());
  const answer = await collectAnswer(chat.call.frames);
  t.equal(answer.content, '## code_review\n\ncode_review\n\n## testing\n\ntesting');
  t.same(envelopes.map((e) => e.request_id).sort(), [chat.identity.id, `${chat.identity.id}.testing`].sort());
});

t.test('each model call of a fan-out counts; a refused fan-out asks no agent and frees its slot', async (t) => {
  const two = setup({ routeTo: ['code_review', 'testing'] });
  two.serve(['code_review', 'testing'], answering('ok'));
  const chat = await startChatCall(two.deps, input(undefined), two.origin());
  await collectAnswer(chat.call.frames);
  t.same(two.charged, [1], 'one token at admission, one more for the second agent');
  t.equal(chat.headers['x-ratelimit-remaining-requests'], '7', 'the headers say what is left after both');

  const one = setup();
  one.serve(['code_review'], answering('ok'));
  await collectAnswer((await startChatCall(one.deps, input('code_review'), one.origin())).call.frames);
  t.same(one.charged, [], 'a single agent takes only the admission token');

  const refused = setup({ routeTo: ['code_review', 'testing'], refuseCharge: true });
  const envelopes = refused.serve(['code_review', 'testing'], answering('ok'));
  await t.rejects(startChatCall(refused.deps, input(undefined), refused.origin()), /429 for the fan-out/);
  t.same(envelopes, [], 'no agent was asked');
  t.equal(refused.released(), 1, 'the slot is freed');
});

t.test('requests the answer makes later (its speech) count with it, before any agent is asked', async (t) => {
  const spoken = setup();
  spoken.serve(['code_review'], answering('ok'));
  const origin = spoken.origin({ laterCalls: 1 });
  await collectAnswer((await startChatCall(spoken.deps, input('code_review'), origin)).call.frames);
  t.same(spoken.charged, [1], 'the chat and its speech: two tokens, all or none');

  const refused = setup({ refuseCharge: true });
  const envelopes = refused.serve(['code_review'], answering('ok'));
  await t.rejects(startChatCall(refused.deps, input('code_review'), refused.origin({ laterCalls: 1 })), /429/);
  t.same(envelopes, [], 'no model asked for an answer that could not be spoken');
  t.equal(refused.released(), 1, 'the slot is freed');
});

t.test('closing the call before any frame cancels on the bus and frees the slot once', async (t) => {
  const { deps, bus, released, origin } = setup();
  bus.subscribe(subjects.chat('code_review'), { queue: 'q', callback: () => undefined }); // a silent worker
  const chat = await startChatCall(deps, input('code_review'), origin());
  const reading = collectAnswer(chat.call.frames).catch((err: unknown) => err);
  await settle();
  chat.call.close('client left');
  await reading;
  chat.call.close('again');
  t.equal(released(), 1);
  const cancels = bus.published.filter((m) => m.subject === subjects.cancel('code_review'));
  t.equal(cancels.length, 1);
  t.match(JSON.parse(new TextDecoder().decode(cancels[0]!.data)), {
    request_id: chat.identity.id,
    reason: 'client left',
  });
});

t.test('a worker that never answers: the first-token limit retries, then the error names both tries', async (t) => {
  const { deps, bus, origin, clock } = setup();
  const seen: string[] = [];
  bus.subscribe(subjects.chat('code_review'), {
    queue: 'q',
    callback: (_err, msg) => {
      seen.push(decodeChatRequest(msg.data).request_id);
      bus.publish(msg.reply!, encodeJson(new FrameMaker(decodeChatRequest(msg.data).request_id).ack()));
    },
  });
  const chat = await startChatCall(deps, input('code_review'), origin());
  const reading = collectAnswer(chat.call.frames).catch((err: unknown) => err);
  await clock.advance(1000);
  await clock.advance(1000);
  const error = (await reading) as { code: string; message: string };
  t.equal(seen.length, 2, 'asked twice under one request id');
  t.equal(new Set(seen).size, 1);
  t.equal(error.code, 'first_token_timeout');
  t.match(error.message, /second attempt/);
});

t.test('an unknown previous_response_id is traced and counted as the response_not_found its client gets', async (t) => {
  const { deps, traced, serve, origin } = setup();
  serve(['code_review'], () => (f) => [f.error('session_not_found')]);
  const counted: (string | undefined)[] = [];
  deps.calls = { opened: () => undefined, ended: (summary) => counted.push(summary.errorCode) };
  const chat = await startChatCall(
    deps,
    input('code_review', 'hello', { previous_response_id: 'resp_gone', idPrefix: 'resp_' }),
    origin(),
  );
  const error = (await collectAnswer(chat.call.frames).catch((err: unknown) => err)) as { code: string };
  t.equal(error.code, 'session_not_found', 'the call itself is untouched: the face renames it for its client');
  await settle();
  t.match(traced, [{ status: 404, error: 'response_not_found' }]);
  t.same(counted, ['response_not_found'], 'and so do the metrics');
});

t.test('without a previous_response_id, session_not_found is traced as such', async (t) => {
  const { deps, traced, serve, origin } = setup();
  serve(['code_review'], () => (f) => [f.error('session_not_found')]);
  const chat = await startChatCall(deps, input('code_review'), origin({ sessionToContinue: 'conv_gone' }));
  await collectAnswer(chat.call.frames).catch(() => undefined);
  await settle();
  t.match(traced, [{ status: 404, error: 'session_not_found' }]);
});

// A worker newer than this gateway may send a code added to the table since (as backend_quota_exceeded
// once was): refusing the frame made it a retryable stream_protocol_error, and the request was sent again.
t.test("an error code from a newer worker keeps the worker's words, as internal_error, asked once", async (t) => {
  const { deps, traced, serve, origin } = setup();
  const newer = (status: number) => (request: ChatRequest) => (f: FrameMaker) => [
    f.ack(),
    {
      type: 'error' as const,
      seq: 1,
      request_id: request.request_id,
      error: { code: 'backend_on_fire', message: 'The backend is on fire.', retryable: true, status, param: null },
    },
  ];
  const envelopes = serve(['code_review'], newer(503));
  const chat = await startChatCall(deps, input('code_review'), origin());
  await t.rejects(collectAnswer(chat.call.frames), {
    code: 'internal_error',
    status: 500,
    retryable: false,
    message: /^backend_on_fire: The backend is on fire\./,
  });
  t.equal(envelopes.length, 1, 'not retried: the gateway cannot know what the code allows');
  await settle();
  t.match(traced, [{ status: 500, error: 'internal_error' }]);
});

t.test('an error code from a newer worker with a 4xx status stays a client error: invalid_request', async (t) => {
  const { deps, serve, origin } = setup();
  const envelopes = serve(['code_review'], (request) => (f) => [
    f.ack(),
    {
      type: 'error' as const,
      seq: 1,
      request_id: request.request_id,
      error: { code: 'image_too_wide', message: 'The image is too wide.', retryable: false, status: 400, param: 'x' },
    },
  ]);
  const chat = await startChatCall(deps, input('code_review'), origin());
  await t.rejects(collectAnswer(chat.call.frames), {
    code: 'invalid_request',
    status: 400,
    param: 'x',
    message: /^image_too_wide: The image is too wide\./,
  });
  t.equal(envelopes.length, 1);
});
