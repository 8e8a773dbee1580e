import t from 'tap';
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
