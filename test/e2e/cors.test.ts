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
