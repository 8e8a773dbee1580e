import t from 'tap';
import type { ServerDoneFrame } from '../../gateway/websocket/frames.schema.js';
import { startStack } from '../helpers/stack.js';
import { traceLine } from '../helpers/trace-lines.js';
import { openLiveClient, type LiveClient } from '../helpers/ws-client.js';

// Sessions, memory, the response cache and the trace log behave over the WebSocket exactly as
// over HTTP: these tests cross the two transports on one stack, with two keys and the cache on.
const stack = await startStack({ env: { CACHE_TTL_SECONDS: '30', API_KEYS: 'key-a,key-b' } });
t.teardown(() => stack.close());

const clients: LiveClient[] = [];
t.teardown(() => {
  for (const client of clients) client.socket.terminate();
});
async function connected(key: string): Promise<LiveClient> {
  const client = await openLiveClient(stack.baseUrl, { authFrameKey: key });
  clients.push(client);
  await client.next((f) => f.type === 'ready');
  return client;
}
const post = (key: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
let counter = 0;
const question = () => `parity question ${++counter}`;

t.test('a conversation started over HTTP continues over the WebSocket, and back', async (t) => {
  stack.ollama.behave({ tokens: ['http answer'] });
  const first: any = await (
    await post('key-a', { model: 'documentation', messages: [{ role: 'user', content: question() }] })
  ).json();
  const client = await connected('key-a');
  stack.ollama.behave({ tokens: ['ws answer'] });
  client.send({
    type: 'chat',
    id: 'w1',
    agent: 'documentation',
    session_id: first.conversation_id,
    messages: [{ role: 'user', content: 'and over the socket?' }],
  });
  const done = (await client.finish('w1')).terminal as ServerDoneFrame;
  t.match(done, { type: 'done', conversation_id: first.conversation_id, meta: { memory_used: true } });
  t.equal(first.choices[0].message.content, 'http answer');
  t.same(
    stack.ollama.requests
      .at(-1)!
      .messages.slice(-3)
      .map((m) => m.content),
    [`parity question ${counter}`, 'http answer', 'and over the socket?'],
  );
  stack.ollama.behave({ tokens: ['http again'] });
  const third: any = await (
    await post(
      'key-a',
      { model: 'documentation', messages: [{ role: 'user', content: 'back on HTTP' }] },
      { 'x-session-id': done.conversation_id },
    )
  ).json();
  t.equal(third.conversation_id, first.conversation_id);
  t.same(
    stack.ollama.requests
      .at(-1)!
      .messages.slice(-3)
      .map((m) => m.content),
    ['and over the socket?', 'ws answer', 'back on HTTP'],
  );
});

t.test("another key's session is not found over the WebSocket either, and nothing is stored", async (t) => {
  stack.ollama.behave({});
  const mine: any = await (
    await post('key-a', { model: 'testing', messages: [{ role: 'user', content: question() }] })
  ).json();
  const before = (await stack.db.selectFrom('turns').select('id').execute()).length;
  const intruder = await connected('key-b');
  intruder.send({
    type: 'chat',
    id: 'probe',
    agent: 'testing',
    session_id: mine.conversation_id,
    messages: [{ role: 'user', content: 'let me in' }],
  });
  t.match((await intruder.finish('probe')).terminal, {
    type: 'error',
    id: 'probe',
    error: { code: 'session_not_found', param: 'session_id', type: 'invalid_request_error' },
  });
  intruder.send({
    type: 'chat',
    id: 'probe2',
    agent: 'testing',
    session_id: 'conv_never_existed',
    messages: [{ role: 'user', content: 'hello?' }],
  });
  const unknown = (await intruder.finish('probe2')).terminal as { error: { message: string } };
  const foreign = (await intruder.finish('probe')).terminal as { error: { message: string } };
  t.equal(
    unknown.error.message.replace('conv_never_existed', 'X'),
    foreign.error.message.replace(mine.conversation_id, 'X'),
    'an unknown session and a foreign one read the same',
  );
  t.equal((await stack.db.selectFrom('turns').select('id').execute()).length, before);
});

t.test(
  'the response cache answers a WebSocket repeat of an HTTP question (same key); cache "refresh" skips it',
  async (t) => {
    stack.ollama.behave({ tokens: ['cacheable'] });
    const content = question();
    const viaHttp = await post('key-a', { model: 'testing', messages: [{ role: 'user', content }], temperature: 0 });
    t.equal(viaHttp.headers.get('x-cache'), 'MISS');
    await viaHttp.json();
    const calls = stack.ollama.requests.length;
    const client = await connected('key-a');
    client.send({ type: 'chat', id: 'hit', agent: 'testing', messages: [{ role: 'user', content }], temperature: 0 });
    const hit = await client.finish('hit');
    t.equal(hit.text, 'cacheable');
    t.match(hit.terminal, { type: 'done', meta: { cached: true } });
    t.equal(stack.ollama.requests.length, calls, 'the model was not called');
    client.send({
      type: 'chat',
      id: 'fresh',
      agent: 'testing',
      cache: 'refresh',
      messages: [{ role: 'user', content }],
      temperature: 0,
    });
    t.match((await client.finish('fresh')).terminal, { type: 'done', meta: { cached: false } });
    t.equal(stack.ollama.requests.length, calls + 1, '"refresh" asked the model');
    // As over HTTP, answers are never shared across API keys.
    const other = await connected('key-b');
    other.send({ type: 'chat', id: 'other', agent: 'testing', messages: [{ role: 'user', content }], temperature: 0 });
    t.match((await other.finish('other')).terminal, { type: 'done', meta: { cached: false } });
    t.equal(stack.ollama.requests.length, calls + 2);
  },
);

t.test('each WebSocket request gets its trace-log line, with the traceparent the client sent', async (t) => {
  stack.ollama.behave({ tokens: ['traced'] });
  const client = await connected('key-a');
  const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  client.send({
    type: 'chat',
    id: 'traced',
    agent: 'deployment',
    traceparent,
    messages: [{ role: 'user', content: 'ship it' }],
  });
  const done = (await client.finish('traced')).terminal as ServerDoneFrame;
  const line = await traceLine(stack.config.logDir, 'deployment', done.completion_id);
  t.match(line, {
    trace_id: '0af7651916cd43dd8448eb211c80319c',
    session: done.conversation_id,
    agent: 'deployment',
    prompt: 'ship it',
    response_len: 6,
    cached: false,
    status: 200,
  });
  const logs = JSON.stringify(stack.logs.lines);
  t.notOk(logs.includes('key-a'), 'the key from the auth frame is in no log line');
});
