import OpenAI from 'openai';
import t from 'tap';
import { AUTH, startStack } from '../helpers/stack.js';

const preflight = (baseUrl: string, origin: string) =>
  fetch(`${baseUrl}/v1/chat/completions`, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization,content-type',
    },
  });

t.test('CORS is off by default: no cross-origin grant, the API still answers same-origin', async (t) => {
  const stack = await startStack({ workerAgents: false });
  t.teardown(() => stack.close());
  const res = await preflight(stack.baseUrl, 'https://elsewhere.example');
  t.equal(res.headers.get('access-control-allow-origin'), null);
  const models = await fetch(`${stack.baseUrl}/v1/models`, {
    headers: { ...AUTH, origin: 'https://elsewhere.example' },
  });
  t.equal(models.status, 200);
  t.equal(models.headers.get('access-control-allow-origin'), null, 'a browser would not let that page read it');
});

t.test('CORS_ORIGINS grants the listed origins only', async (t) => {
  const stack = await startStack({ workerAgents: false, env: { CORS_ORIGINS: 'https://app.example' } });
  t.teardown(() => stack.close());
  const allowed = await preflight(stack.baseUrl, 'https://app.example');
  t.equal(allowed.status, 204);
  t.equal(allowed.headers.get('access-control-allow-origin'), 'https://app.example');
  t.match(allowed.headers.get('access-control-allow-headers') ?? '', /authorization/);
  const other = await preflight(stack.baseUrl, 'https://evil.example');
  t.equal(other.headers.get('access-control-allow-origin'), null);
  const models = await fetch(`${stack.baseUrl}/v1/models`, { headers: { ...AUTH, origin: 'https://app.example' } });
  t.equal(models.headers.get('access-control-allow-origin'), 'https://app.example');
  t.match(models.headers.get('access-control-expose-headers') ?? '', /x-request-id/);
});

// A hijacked stream writes its own head: each stream must still carry what @fastify/cors put on the reply.
t.test('every streamed answer carries the CORS grant, as a JSON one does', async (t) => {
  const origin = 'https://app.example';
  const stack = await startStack({ env: { CORS_ORIGINS: origin } });
  t.teardown(() => stack.close());
  const chat = { model: 'testing', messages: [{ role: 'user', content: 'hi' }] };
  const streams: Array<[string, string, Record<string, unknown>, RegExp]> = [
    ['chat SSE', '/v1/chat/completions', { ...chat, stream: true }, /^text\/event-stream/],
    ['legacy chat SSE', '/v1/chat/stream', chat, /^text\/event-stream/],
    ['responses SSE', '/v1/responses', { model: 'testing', input: 'hi', stream: true }, /^text\/event-stream/],
    ['completions SSE', '/v1/completions', { model: 'testing', prompt: 'hi', stream: true }, /^text\/event-stream/],
    ['Ollama NDJSON', '/api/generate', { model: 'testing', prompt: 'hi' }, /^application\/x-ndjson/],
    [
      'spoken chat SSE',
      '/v1/chat/completions',
      { ...chat, stream: true, modalities: ['text', 'audio'], audio: { voice: 'alloy', format: 'pcm16' } },
      /^text\/event-stream/,
    ],
    ['chat JSON', '/v1/chat/completions', chat, /^application\/json/],
  ];
  for (const [name, path, body, contentType] of streams) {
    stack.ollama.behave({ tokens: ['Hello', ' there'] });
    const res = await fetch(`${stack.baseUrl}${path}`, {
      method: 'POST',
      headers: { ...AUTH, origin },
      body: JSON.stringify(body),
    });
    t.equal(res.status, 200, name);
    t.match(res.headers.get('content-type'), contentType, name);
    t.equal(res.headers.get('access-control-allow-origin'), origin, `${name}: the page may read it`);
    t.match(res.headers.get('vary') ?? '', /origin/i, `${name}: caches keep one copy per origin`);
    t.match(res.headers.get('access-control-expose-headers') ?? '', /x-request-id/, name);
    t.match(res.headers.get('x-request-id'), /./, `${name}: the call's own headers are still sent`);
    t.match(res.headers.get('x-session-id'), /^conv_/, name);
    t.match(await res.text(), /Hello/, name);
  }
});

// What the official SDK sends, captured from its own requests rather than copied from its source.
t.test('a preflight admits every header the openai SDK sends, and DELETE (responses.delete)', async (t) => {
  const origin = 'https://app.example';
  const stack = await startStack({ env: { CORS_ORIGINS: origin } });
  t.teardown(() => stack.close());
  const sent: Array<{ method: string; names: string[] }> = [];
  const client = new OpenAI({
    baseURL: `${stack.baseUrl}/v1`,
    apiKey: 'local-only',
    organization: 'org-x',
    project: 'proj-x',
    maxRetries: 0,
    fetch: (url, init) => {
      const names: string[] = [];
      new Headers(init?.headers).forEach((_value, name) => names.push(name));
      sent.push({ method: init?.method ?? 'GET', names });
      return fetch(url, init);
    },
  });
  stack.ollama.behave({ tokens: ['Hello'] });
  const response = await client.responses.create({ model: 'testing', input: 'hi', store: true });
  await client.responses.delete(response.id);
  t.same(
    sent.map((s) => s.method),
    ['POST', 'DELETE'],
  );
  for (const { method, names } of sent) {
    // A browser asks only for the headers that are not CORS-safelisted (Accept with its value is).
    const asked = names.filter((name) => name !== 'accept');
    t.ok(asked.includes('x-stainless-retry-count') && asked.includes('openai-project'), 'the SDK headers are there');
    const res = await fetch(`${stack.baseUrl}/v1/responses/resp_x`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': asked.join(',') },
    });
    t.equal(res.status, 204);
    t.equal(res.headers.get('access-control-allow-origin'), origin);
    const allowed = (res.headers.get('access-control-allow-headers') ?? '').toLowerCase().split(/\s*,\s*/);
    t.same(
      asked.filter((name) => !allowed.includes(name)),
      [],
      `${method}: no header the SDK sends is left out`,
    );
    t.match(res.headers.get('access-control-allow-methods') ?? '', new RegExp(`\\b${method}\\b`));
  }
  const answer = await fetch(`${stack.baseUrl}/v1/models`, { headers: { ...AUTH, origin } });
  const exposed = (answer.headers.get('access-control-expose-headers') ?? '').toLowerCase();
  for (const name of ['x-request-id', 'retry-after', 'x-should-retry', 'x-session-id'])
    t.ok(exposed.includes(name), `the SDK may read ${name}`);
});
