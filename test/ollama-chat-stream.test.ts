import t from 'tap';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createOllamaProvider } from '../workers/providers/ollama/index.js';
import type { ProviderEvent } from '../workers/providers/types.js';

// The Ollama provider's own /api/chat client (chat-stream.ts) against a server speaking
// Ollama's NDJSON: the same events and errors the `ollama` client gave.
let answer: (res: ServerResponse) => void = () => undefined;
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => answer(res));
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const provider = createOllamaProvider({ url });
const ask = async () => {
  const events: ProviderEvent[] = [];
  for await (const event of provider.chat({ model: 'm', messages: [{ role: 'user', content: 'hi' }], options: {}, signal: new AbortController().signal })) events.push(event);
  return events;
};
const line = (value: object) => `${JSON.stringify(value)}\n`;
const ndjson = (res: ServerResponse, ...lines: string[]) => {
  res.writeHead(200, { 'content-type': 'application/x-ndjson' });
  for (const l of lines) res.write(l);
  res.end();
};

t.test('deltas, then done with usage; lines that are not JSON are skipped', async (t) => {
  answer = (res) => ndjson(res, line({ message: { role: 'assistant', content: 'Hel' }, done: false }), 'not json\n', line({ message: { content: 'lo' }, done: false }), line({ message: { content: '' }, done: true, done_reason: 'stop', prompt_eval_count: 3, eval_count: 2 }));
  for (let i = 0; i < 3; i++) {
    t.same(await ask(), [
      { type: 'delta', content: 'Hel' },
      { type: 'delta', content: 'lo' },
      { type: 'done', finishReason: 'stop', usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } },
    ]);
  }
});

t.test('an error status: the JSON error text, the status, the missing-model hint', async (t) => {
  answer = (res) => { res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'model "m" not found, try pulling it first' })); };
  await t.rejects(ask(), { code: 'backend_model_not_found' });
  answer = (res) => { res.writeHead(500, { 'content-type': 'text/plain' }).end('boom'); };
  await t.rejects(ask(), { code: 'backend_error', message: /answered HTTP 500: boom/ });
  answer = (res) => { res.writeHead(503).end(); };
  await t.rejects(ask(), { code: 'backend_error', message: /HTTP 503: Error 503: Service Unavailable/ });
});

t.test('an error line mid-stream, and a stream without its done line, fail mid-answer', async (t) => {
  answer = (res) => ndjson(res, line({ message: { content: 'a' }, done: false }), line({ error: 'out of memory' }));
  await t.rejects(ask(), { code: 'backend_error', message: /failed mid-answer: out of memory/ });
  answer = (res) => ndjson(res, line({ message: { content: 'a' }, done: false }));
  await t.rejects(ask(), { code: 'backend_error', message: /Did not receive done/ });
});

t.test('nobody listening: backend_unreachable naming the socket error', async (t) => {
  const closed = createOllamaProvider({ url: 'http://127.0.0.1:1' });
  const events = closed.chat({ model: 'm', messages: [{ role: 'user', content: 'hi' }], options: {}, signal: new AbortController().signal });
  await t.rejects((async () => { for await (const e of events) void e; })(), { code: 'backend_unreachable', message: /ECONNREFUSED/ });
});
