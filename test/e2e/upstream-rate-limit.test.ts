import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI, { RateLimitError } from 'openai';
import t from 'tap';
import { createOpenAIProvider } from '../../workers/providers/openai/index.js';
import { startFakeOpenAI } from '../helpers/fake-openai.js';
import { AUTH, startStack } from '../helpers/stack.js';

// An OpenAI-compatible upstream answering 429 over a real loopback socket: its rate limit reaches the client as a
// 429 with the upstream's Retry-After, asked of it once (also when every upstream of a chain is at its limit), and
// never opens the provider's circuit; an empty account is a 429 the SDKs do not retry.
const upstream = await startFakeOpenAI(['gpt-test']);
t.teardown(() => upstream.close());
const dir = mkdtempSync(join(tmpdir(), 'agentbus-upstream-429-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const agentsFile = join(dir, 'agents.json');
// `testing` on PROVIDER (the fake OpenAI); `pair` and `pair_vectors` chain it with the fake Ollama.
const PAIR = [
  { provider: 'openai', model: 'gpt-test' },
  { provider: 'ollama', model: 'llama3.2' },
];
writeFileSync(
  agentsFile,
  JSON.stringify({
    agents: [
      { name: 'testing', description: 'A chat agent.', system_prompt: 'You write tests.' },
      { name: 'pair', description: 'Two upstreams.', system_prompt: 'You help.', providers: PAIR },
      { name: 'pair_vectors', kind: 'embedding', description: 'Two upstreams.', providers: PAIR },
    ],
  }),
);
const stack = await startStack({
  provider: createOpenAIProvider({ baseUrl: upstream.url, apiKey: 'sk-upstream-secret' }),
  env: { DEFAULT_MODEL: 'gpt-test', BREAKER_FAILURES: '3', AGENTS_FILE: agentsFile },
});
t.teardown(() => stack.close());
const post = (body: Record<string, unknown> = {}) =>
  fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({ model: 'testing', messages: [{ role: 'user', content: 'hi' }], ...body }),
  });
const RATE_LIMITED = {
  status: 429,
  message: 'Rate limit reached for gpt-test on requests per min (RPM): Limit 3, Used 3, Requested 1.',
  type: 'requests',
  code: 'rate_limit_exceeded',
};
const NO_QUOTA = {
  status: 429,
  message: 'You exceeded your current quota, please check your plan and billing details.',
  type: 'insufficient_quota',
  code: 'insufficient_quota',
};

t.test("an upstream's 429: the client gets 429 with its Retry-After, and the upstream is asked once", async (t) => {
  upstream.behave({ failWith: { ...RATE_LIMITED, headers: { 'retry-after': '7' } } });
  for (const stream of [false, true]) {
    const before = upstream.requests.length;
    const res = await post({ stream });
    t.equal(res.status, 429, `stream: ${stream}`);
    t.equal(res.headers.get('retry-after'), '7', "the upstream's wait, not 1");
    t.equal(res.headers.get('x-should-retry'), 'true');
    t.match(await res.json(), {
      error: { code: 'backend_rate_limited', type: 'requests', message: /rate limiting the worker's key.*wait 7 s/ },
    });
    t.equal(upstream.requests.length - before, 1, 'neither the worker nor the gateway asked it again');
  }
  // An HTTP date says the same. How many seconds are left depends on how long the request took on this machine
  // (provider-errors.test.ts checks the arithmetic on a fixed clock): read, not the default 1, never more.
  const at = new Date(Date.now() + 30_000).toUTCString();
  upstream.behave({ failWith: { ...RATE_LIMITED, headers: { 'retry-after': at } } });
  const dated = await post();
  t.equal(dated.status, 429);
  const left = Number(dated.headers.get('retry-after'));
  t.ok(left > 5 && left <= 30, `${left} s left until ${at}`);
});

t.test("every upstream of an agent's chain at its limit: a 429, each asked once", async (t) => {
  upstream.behave({ failWith: { ...RATE_LIMITED, headers: { 'retry-after': '7' } } });
  stack.ollama.behave({ failWith: { status: 429, message: 'you have reached your hourly usage limit' } });
  t.teardown(() => stack.ollama.behave({}));
  const before = { openai: upstream.requests.length, ollama: stack.ollama.requests.length };
  const res = await post({ model: 'pair' });
  t.equal(res.status, 429, 'not the 503 of a chain that failed');
  t.equal(res.headers.get('x-should-retry'), 'true');
  t.match(await res.json(), {
    error: { code: 'backend_rate_limited', type: 'requests', message: /openai: backend_rate_limited.*ollama: back/ },
  });
  t.equal(upstream.requests.length - before.openai, 1, 'the gateway did not ask the agent again');
  t.equal(stack.ollama.requests.length - before.ollama, 1);

  const vectors = await fetch(`${stack.baseUrl}/v1/embeddings`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({ model: 'pair_vectors', input: 'hi' }),
  });
  t.equal(vectors.status, 429, 'embeddings alike');
  t.match(await vectors.json(), { error: { code: 'backend_rate_limited' } });
  t.equal(upstream.embedRequests.length, 1);
  t.equal(stack.ollama.embedRequests.length, 1);
});

t.test("429s are not the backend failing: the provider's circuit stays closed for everyone", async (t) => {
  // The user's case: two 429s and one 500 opened the circuit for 30 s (BREAKER_FAILURES=3).
  upstream.behave({ failWith: { ...RATE_LIMITED, headers: { 'retry-after': '1' } } });
  for (let i = 0; i < 4; i++) t.equal((await post()).status, 429);
  upstream.behave({ failWith: { status: 500, message: 'upstream exploded' } });
  t.equal((await post()).status, 502);
  upstream.behave({ tokens: ['back'] });
  const before = upstream.requests.length;
  const answered = await post();
  t.equal(answered.status, 200, 'the next request reaches the upstream');
  t.match(await answered.json(), { choices: [{ message: { content: 'back' } }] });
  t.equal(upstream.requests.length - before, 1);
});

t.test('the openai SDK waits as the upstream said, then its retry is answered', async (t) => {
  // The first call is limited, every later one answered: tied to the calls, not to a timer racing them.
  upstream.behave({ tokens: ['after the wait'] });
  upstream.behaveInTurn([{ failWith: { ...RATE_LIMITED, headers: { 'retry-after': '1' } } }]);
  const client = new OpenAI({ baseURL: `${stack.baseUrl}/v1`, apiKey: 'local-only', maxRetries: 1 });
  const before = upstream.requests.length;
  const started = performance.now();
  const answer = await client.chat.completions.create({
    model: 'testing',
    messages: [{ role: 'user', content: 'hi' }],
  });
  t.equal(answer.choices[0]?.message.content, 'after the wait');
  // A lower bound only: the SDK sleeps exactly what Retry-After says before its retry (no jitter then).
  t.ok(performance.now() - started >= 1000, 'the SDK slept the Retry-After');
  t.equal(upstream.requests.length - before, 2, 'one call per client attempt');
});

t.test("an upstream account without quota: OpenAI's 429, which neither gateway nor SDK retries", async (t) => {
  upstream.behave({ failWith: { ...NO_QUOTA, headers: { 'retry-after': '20' } } });
  const before = upstream.requests.length;
  const res = await post();
  t.equal(res.status, 429);
  t.equal(res.headers.get('x-should-retry'), 'false');
  t.equal(res.headers.get('retry-after'), null, 'no wait helps');
  t.match(await res.json(), {
    error: { code: 'backend_quota_exceeded', type: 'insufficient_quota', message: /no quota left.*OPENAI_API_KEY/ },
  });
  t.equal(upstream.requests.length - before, 1);

  const client = new OpenAI({ baseURL: `${stack.baseUrl}/v1`, apiKey: 'local-only', maxRetries: 2 });
  const err = await client.chat.completions
    .create({ model: 'testing', messages: [{ role: 'user', content: 'hi' }] })
    .catch((e: unknown) => e);
  t.ok(err instanceof RateLimitError, 'the SDK raises its RateLimitError');
  t.match(err, { status: 429, code: 'backend_quota_exceeded', type: 'insufficient_quota' });
  t.equal(upstream.requests.length - before, 2, 'the SDK obeyed x-should-retry: false: one call more, not three');
  upstream.behave({ tokens: ['ok'] });
  t.equal((await post()).status, 200, 'the circuit is closed');
});
