import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { ReplyFrame } from '../../bus-schemas/index.js';
import { DEFAULT_SECRET_PATTERNS_FILE } from '../../common/redaction.js';
import { loadWorkerConfig } from '../../workers/config.js';
import { sendEnvelope, envelopeFor } from '../helpers/bus-call.js';
import { startFakeOpenAI } from '../helpers/fake-openai.js';
import { parseSse } from '../helpers/sse.js';
import { AUTH, startSideLane, startStack } from '../helpers/stack.js';

// Provider chains, circuit breakers, privacy and redaction, end to end: gateway → NATS → worker
// → the fake Ollama (local) and the fake OpenAI (not local), both real HTTP on loopback.
const upstream = await startFakeOpenAI(['gpt-test']);
t.teardown(() => upstream.close());
const dir = mkdtempSync(join(tmpdir(), 'agentbus-chain-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const agentsFile = join(dir, 'agents.json');
const agent = (name: string, providers?: Array<{ provider: string; model?: string }>) => ({
  name,
  description: `${name} agent`,
  system_prompt: `You are ${name}.`,
  ...(providers ? { providers } : {}),
});
const OPENAI = { provider: 'openai', model: 'gpt-test' };
writeFileSync(
  agentsFile,
  JSON.stringify({
    agents: [
      agent('chained', [{ provider: 'ollama' }, OPENAI]),
      agent('cloud_first', [OPENAI, { provider: 'ollama' }]),
      agent('cloud_only', [OPENAI]),
      // No chain in the catalog: the worker's PROVIDER (ollama) alone.
      agent('local_only'),
    ],
  }),
);
// Never over during a test: the half-open trial and its timing are unit-tested on a fake clock
// (test/unit/breakers.test.ts, test/unit/provider-chain.test.ts).
const COOLDOWN_MS = 600_000;
const stack = await startStack({
  env: {
    AGENTS_FILE: agentsFile,
    OPENAI_BASE_URL: upstream.url,
    BREAKER_FAILURES: '3',
    BREAKER_COOLDOWN_MS: String(COOLDOWN_MS),
  },
});
t.teardown(() => stack.close());
t.beforeEach(() => {
  stack.ollama.behave({});
  upstream.behave({});
});

const ask = (baseUrl: string, model: string, body: Record<string, unknown> = {}) =>
  fetch(`${baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], ...body }),
  });
const askJson = async (baseUrl: string, model: string) => {
  const res = await ask(baseUrl, model);
  return { status: res.status, headers: res.headers, body: await res.json() };
};
const providerSteps = (meta: { fallback?: Array<{ kind: string }> }) =>
  (meta.fallback ?? []).filter((step) => step.kind === 'provider');
const terminal = (frames: ReplyFrame[]) => frames.at(-1)!;

t.test('the first provider failing before its first token hands the request to the next, transparently', async (t) => {
  stack.ollama.behave({ failWith: { status: 500, message: 'llama runner process has terminated' } });
  const [ollamaBefore, openaiBefore] = [stack.ollama.requests.length, upstream.requests.length];
  const { status, body } = await askJson(stack.baseUrl, 'chained');
  t.equal(status, 200);
  t.equal(body.choices[0].message.content, 'Hello from upstream.');
  t.equal(body.meta.provider, 'openai');
  t.equal(body.meta.model, 'gpt-test', 'the model of the link that answered');
  t.same(providerSteps(body.meta), [{ kind: 'provider', from: 'ollama', to: 'openai', reason: 'backend_error' }]);
  t.equal(stack.ollama.requests.length - ollamaBefore, 1);
  t.equal(upstream.requests.length - openaiBefore, 1);
  const warning = stack.logs.lines.find(
    (line) => line['level'] === 40 && line['from'] === 'ollama' && line['to'] === 'openai',
  );
  t.match(
    warning,
    { reason: 'backend_error', err: { message: /HTTP 500/ } },
    'the fallback is logged at warn with the error',
  );
  const turn = await stack.db
    .selectFrom('turns')
    .select(['model', 'assistant_response'])
    .where('request_id', '=', body.id)
    .executeTakeFirstOrThrow();
  t.same(
    turn,
    { model: 'gpt-test', assistant_response: 'Hello from upstream.' },
    'the stored turn names the model that answered',
  );

  stack.ollama.behave({});
  const healthy = await askJson(stack.baseUrl, 'chained');
  t.equal(healthy.body.meta.provider, 'ollama', 'a healthy first provider answers itself');
  t.notOk(healthy.body.meta.fallback, 'no fallback steps');
});

t.test(
  'an unreachable provider (closed port) hands the request on; a one-provider chain keeps its own error',
  async (t) => {
    const lane = await startSideLane(stack, { prefix: 'dead-ollama', ollamaUrl: 'http://127.0.0.1:9' });
    t.teardown(() => lane.close());
    for (const stream of [false, true]) {
      const res = await ask(lane.baseUrl, 'chained', { stream });
      t.equal(res.status, 200, `stream=${stream}`);
      if (stream) {
        const { events } = parseSse(await res.text());
        t.equal(events.at(-1)!.data, '[DONE]');
        const last = JSON.parse(events.filter((e) => e.data !== '[DONE]').at(-1)!.data);
        t.equal(last.meta?.provider, 'openai', 'the last chunk carries meta');
        t.same(providerSteps(last.meta), [
          { kind: 'provider', from: 'ollama', to: 'openai', reason: 'backend_unreachable' },
        ]);
      } else {
        const body: any = await res.json();
        t.equal(body.meta.provider, 'openai');
        t.same(providerSteps(body.meta), [
          { kind: 'provider', from: 'ollama', to: 'openai', reason: 'backend_unreachable' },
        ]);
      }
    }
    const alone = await askJson(lane.baseUrl, 'local_only');
    t.equal(alone.status, 503);
    t.match(
      alone.body.error,
      { code: 'backend_unreachable', message: /OLLAMA_URL/ },
      "with nothing to fall back to, the provider's own error",
    );
  },
);

t.test(
  'after the first token nothing switches silently: the client gets the error and the next provider is never called',
  async (t) => {
    stack.ollama.behave({ tokens: ['partial', ' answer', ' lost'], dieAfterTokens: 1, tokenDelayMs: 20 });
    const openaiBefore = upstream.requests.length;
    const ollamaBefore = stack.ollama.requests.length;
    const res = await ask(stack.baseUrl, 'chained', { stream: true });
    t.equal(res.status, 200, 'the stream had started');
    const { events } = parseSse(await res.text());
    t.notOk(
      events.some((e) => e.data === '[DONE]'),
      'the answer does not look complete',
    );
    t.equal(events.at(-1)!.event, 'error');
    t.match(JSON.parse(events.at(-1)!.data), { error: { code: 'backend_error' } });
    t.ok(
      events.some((e) => e.data.includes('partial')),
      'the first token reached the client',
    );
    t.equal(upstream.requests.length, openaiBefore, 'openai was never called');
    t.equal(stack.ollama.requests.length - ollamaBefore, 1, 'ollama was called once');
  },
);

t.test('circuit breaker: opens after BREAKER_FAILURES and skips the provider without a network call', async (t) => {
  // A lane of its own: its worker's breakers start closed and no other test touches them.
  const lane = await startSideLane(stack, { prefix: 'breaker' });
  t.teardown(() => lane.close());
  const ollamaCalls = async (
    model: string,
    expectedCalls: number,
    expect: { provider: string; reason?: string },
    what: string,
  ) => {
    const before = stack.ollama.requests.length;
    const { status, body } = await askJson(lane.baseUrl, model);
    t.equal(status, 200, `${what}: answered`);
    t.equal(body.meta.provider, expect.provider, `${what}: answered by ${expect.provider}`);
    t.same(
      providerSteps(body.meta).map((step: any) => step.reason),
      expect.reason ? [expect.reason] : [],
      `${what}: fallback reason ${expect.reason ?? 'none'}`,
    );
    t.equal(stack.ollama.requests.length - before, expectedCalls, `${what}: ollama called ${expectedCalls} time(s)`);
  };

  stack.ollama.behave({ failWith: { status: 500, message: 'out of memory' } });
  for (const n of [1, 2, 3])
    await ollamaCalls('chained', 1, { provider: 'openai', reason: 'backend_error' }, `failure ${n}`);
  await ollamaCalls('chained', 0, { provider: 'openai', reason: 'circuit_open' }, 'open');

  // With no other provider, the request gets the error that opened the circuit, still without a call.
  const before = stack.ollama.requests.length;
  const alone = await askJson(lane.baseUrl, 'local_only');
  t.equal(alone.status, 502);
  t.match(alone.body.error, {
    code: 'backend_error',
    message:
      /out of memory.*circuit open for another \d+ s after 3 consecutive failures.*BREAKER_FAILURES, BREAKER_COOLDOWN_MS/,
  });
  t.equal(stack.ollama.requests.length, before, 'no call while open');
  // Retry-After says when the circuit lets a trial through, not 1 s: an SDK's retry waits for it.
  const retryAfter = Number(alone.headers.get('retry-after'));
  t.ok(retryAfter > COOLDOWN_MS / 1000 - 60 && retryAfter <= COOLDOWN_MS / 1000, `retry-after ${retryAfter}`);
  t.equal(alone.headers.get('x-should-retry'), 'true');
});

t.test('every provider failing → no_provider_available naming each and why', async (t) => {
  stack.ollama.behave({ failWith: { status: 500, message: 'ollama is sad' } });
  upstream.behave({ failWith: { status: 503, message: 'upstream overloaded' } });
  const { status, body } = await askJson(stack.baseUrl, 'chained');
  t.equal(status, 503);
  t.equal(body.error.code, 'no_provider_available');
  t.match(body.error.message, /agent "chained"/);
  t.match(body.error.message, /ollama: backend_error: .*ollama is sad/);
  t.match(body.error.message, /openai: backend_error: .*upstream overloaded/);
});

t.test('a private request only reaches local providers', async (t) => {
  const openaiBefore = upstream.requests.length;
  const ollamaBefore = stack.ollama.requests.length;
  const frames = await sendEnvelope(
    stack.bus,
    stack.config.subjectPrefix,
    envelopeFor('cloud_first', [{ role: 'user', content: 'private question' }], { private: true }),
  );
  const done = terminal(frames);
  t.equal(done.type, 'done');
  if (done.type !== 'done') return;
  t.equal(done.meta.provider, 'ollama');
  t.same(done.meta.fallback, [{ kind: 'provider', from: 'openai', to: 'ollama', reason: 'not_local' }]);
  t.equal(stack.ollama.requests.length - ollamaBefore, 1);
  t.equal(stack.ollama.requests.at(-1)!.messages.at(-1)!.content, 'private question');

  const refused = terminal(
    await sendEnvelope(
      stack.bus,
      stack.config.subjectPrefix,
      envelopeFor('cloud_only', [{ role: 'user', content: 'private question' }], { private: true }),
    ),
  );
  t.equal(refused.type, 'error');
  if (refused.type !== 'error') return;
  t.match(
    refused.error,
    { code: 'no_local_provider', retryable: false, status: 503 },
    'no local provider: sending it again cannot help',
  );
  t.match(refused.error.message, /agent "cloud_only"/);
  t.match(refused.error.message, /openai: not local and the request is private/);
  t.match(refused.error.message, /LOCAL_PROVIDERS/);
  t.match(refused.error.message, /"providers" in AGENTS_FILE/);
  t.equal(upstream.requests.length, openaiBefore, 'the fake OpenAI received nothing');
  t.equal(stack.ollama.requests.length - ollamaBefore, 1, 'and Ollama nothing more');
});

t.test(
  'a private request with no local provider is not retried, by the gateway or by an SDK (x-should-retry)',
  async (t) => {
    const refusals = () =>
      stack.logs.lines.filter((line) => 'worker' in line && line['code'] === 'no_local_provider').length;
    const [openaiBefore, refusalsBefore] = [upstream.requests.length, refusals()];
    const res = await fetch(`${stack.baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...AUTH, 'x-private': 'true' },
      body: JSON.stringify({ model: 'cloud_only', messages: [{ role: 'user', content: 'hi' }] }),
    });
    t.equal(res.status, 503);
    t.equal(res.headers.get('x-should-retry'), 'false');
    t.equal(res.headers.get('retry-after'), null);
    t.match(await res.json(), {
      error: { code: 'no_local_provider', type: 'server_error', message: /LOCAL_PROVIDERS/ },
    });
    t.equal(refusals() - refusalsBefore, 1, 'the worker was asked once');
    t.equal(upstream.requests.length, openaiBefore, 'the fake OpenAI received nothing');
  },
);

t.test('a private request whose local providers fail is still no_provider_available, retryable', async (t) => {
  stack.ollama.behave({ failWith: { status: 500, message: 'ollama is sad' } });
  const openaiBefore = upstream.requests.length;
  const failed = terminal(
    await sendEnvelope(
      stack.bus,
      stack.config.subjectPrefix,
      envelopeFor('cloud_first', [{ role: 'user', content: 'private question' }], { private: true }),
    ),
  );
  t.match(failed, { type: 'error', error: { code: 'no_provider_available', retryable: true } });
  if (failed.type !== 'error') return;
  t.match(failed.error.message, /openai: not local and the request is private; ollama: backend_error/);
  t.equal(upstream.requests.length, openaiBefore, 'the fake OpenAI received nothing');
});

t.test('secrets are masked for a non-local provider and reach a local one as written', async (t) => {
  const secret = `sk-proj-${'A1b2C3d4E5'.repeat(3)}`;
  const question = `why does ${secret} not work?`;
  // Straight on the bus: the gateway may pin requests with secrets to local providers itself.
  const cloud = terminal(
    await sendEnvelope(
      stack.bus,
      stack.config.subjectPrefix,
      envelopeFor('cloud_only', [{ role: 'user', content: question }]),
    ),
  );
  t.equal(cloud.type, 'done');
  const sent = upstream.requests.at(-1)!.body.messages.at(-1);
  t.equal(sent.content, 'why does [REDACTED:openai_key] not work?');
  t.notOk(
    JSON.stringify(upstream.requests.at(-1)!.body).includes(secret),
    'the secret appears nowhere in the upstream request',
  );

  const local = terminal(
    await sendEnvelope(
      stack.bus,
      stack.config.subjectPrefix,
      envelopeFor('local_only', [{ role: 'user', content: question }]),
    ),
  );
  t.equal(local.type, 'done');
  t.equal(stack.ollama.requests.at(-1)!.messages.at(-1)!.content, question, 'Ollama is local: unchanged');
});

t.test('worker settings: defaults, and every bad value named at once', async (t) => {
  t.match(loadWorkerConfig({}), {
    localProviders: ['ollama', 'llama-cpp'],
    breakerFailures: 3,
    breakerCooldownMs: 30_000,
    secretPatternsFile: DEFAULT_SECRET_PATTERNS_FILE,
  });
  t.same(loadWorkerConfig({ LOCAL_PROVIDERS: ' ollama , openai ' }).localProviders, ['ollama', 'openai']);
  t.throws(
    () => loadWorkerConfig({ LOCAL_PROVIDERS: 'ollama,vllm', BREAKER_FAILURES: '0', BREAKER_COOLDOWN_MS: '50' }),
    {
      message:
        /LOCAL_PROVIDERS="ollama,vllm" names vllm; each item must be one of: ollama, llama-cpp, openai[\s\S]*BREAKER_FAILURES="0"[\s\S]*BREAKER_COOLDOWN_MS="50"/,
    },
  );
});
