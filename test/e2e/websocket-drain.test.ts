import t from 'tap';
import { rawExchange } from '../helpers/raw-http.js';
import { startStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';
import { openLiveClient } from '../helpers/ws-client.js';

// A stopping gateway treats WebSocket requests as it treats open HTTP responses: the ones in
// flight finish (up to GATEWAY_DRAIN_TIMEOUT_MS), new ones are refused, then the socket closes.
const stack = await startStack({ env: { GATEWAY_DRAIN_TIMEOUT_MS: '5000' } });
t.teardown(() => stack.close());

t.test('gateway close: the request in flight finishes, a new one is refused, then 1001', async (t) => {
  const client = await openLiveClient(stack.baseUrl, { headerKey: 'local-only' });
  await client.next((frame) => frame.type === 'ready');
  // 2.5 s of answer: still in flight while the test waits for the close to begin.
  stack.ollama.behave({ tokens: ['one', ' two', ' three', ' four', ' five'], tokenDelayMs: 500 });
  client.send({ type: 'chat', id: 'w1', agent: 'code_review', messages: [{ role: 'user', content: 'hi' }] });
  await client.next((frame) => frame.type === 'delta');
  const closing = stack.app.close();
  // The next frame must arrive once draining began: fastify answers plain HTTP with 503 from the
  // moment it starts closing, right before it runs the preClose hook that drains the sockets.
  await waitFor('the gateway to start closing', async () => (await fetch(`${stack.baseUrl}/health`)).status === 503);
  client.send({ type: 'chat', id: 'w2', agent: 'code_review', messages: [{ role: 'user', content: 'again' }] });
  const refused = await client.finish('w2');
  t.match(refused.terminal, { type: 'error', error: { code: 'bus_unavailable', message: /shutting down/ } });
  const first = await client.finish('w1', 5000);
  t.equal(first.terminal.type, 'done', 'the request in flight finished');
  t.equal(first.text, 'one two three four five');
  t.match(await client.closed, { code: 1001 });
  await closing;
  t.same(client.invalidFrames, []);
});

t.test('an upgrade refused while draining gets its 503 and its socket closed: it holds no drain', async (t) => {
  const own = await startStack({ env: { GATEWAY_DRAIN_TIMEOUT_MS: '5000' } });
  t.teardown(() => own.close());
  const client = await openLiveClient(own.baseUrl, { headerKey: 'local-only' });
  await client.next((frame) => frame.type === 'ready');
  own.ollama.behave({ tokens: ['one', ' two', ' three', ' four', ' five'], tokenDelayMs: 500 });
  client.send({ type: 'chat', id: 'w1', agent: 'code_review', messages: [{ role: 'user', content: 'hi' }] });
  await client.next((frame) => frame.type === 'delta');
  const started = Date.now();
  const closing = own.app.close();
  await waitFor('the gateway to start closing', async () => (await fetch(`${own.baseUrl}/health`)).status === 503);
  const port = new URL(own.baseUrl).port;
  const upgrade =
    `GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
    'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';
  // The refused upgrade's socket is outside Node's HTTP handling: left open, it held app.close()
  // for the whole GATEWAY_DRAIN_TIMEOUT_MS after the answers in flight had finished.
  const answer = await Promise.race([
    rawExchange(own.baseUrl, upgrade),
    new Promise<string>((resolve) => setTimeout(() => resolve('still open'), 1500)),
  ]);
  t.match(answer, /^HTTP\/1\.1 503 [^]*"code":"bus_unavailable"/, 'the 503, then the server closed the socket');
  t.equal((await client.finish('w1', 5000)).terminal.type, 'done');
  await closing;
  t.ok(Date.now() - started < 4500, 'closed once the answer finished, not at GATEWAY_DRAIN_TIMEOUT_MS');
});

t.test("a drain longer than fastify's 10 s plugin timeout: the request finishes and close resolves", async (t) => {
  // fastify bounds each preClose hook by its pluginTimeout (10 s by default): the hook that drains
  // the sockets was cut there, app.close() rejected, and a stopping gateway exited 1 mid-drain.
  const long = await startStack({ env: { GATEWAY_DRAIN_TIMEOUT_MS: '30000' } });
  t.teardown(() => long.close());
  const client = await openLiveClient(long.baseUrl, { headerKey: 'local-only' });
  await client.next((frame) => frame.type === 'ready');
  const tokens = Array.from({ length: 23 }, (_, i) => `t${i} `);
  long.ollama.behave({ tokens, tokenDelayMs: 500 });
  client.send({ type: 'chat', id: 'w1', agent: 'code_review', messages: [{ role: 'user', content: 'hi' }] });
  await client.next((frame) => frame.type === 'delta');
  const closing = long.app.close();
  const first = await client.finish('w1', 15_000);
  t.equal(first.terminal.type, 'done', 'the 11.5 s answer finished');
  t.equal(first.text, tokens.join(''));
  t.match(await client.closed, { code: 1001 });
  await t.resolves(closing, 'app.close() did not time out');
});
