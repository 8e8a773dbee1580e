import t from 'tap';
import { connect as connectTcp } from 'node:net';
import WebSocket from 'ws';
import type { ServerDoneFrame, ServerErrorFrame, ReadyFrame } from '../../gateway/websocket/frames.schema.js';
import { startStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';
import { openLiveClient, type LiveClient } from '../helpers/ws-client.js';

// Small limits so each one can be reached quickly: two requests per socket, a short auth
// grace, a small send buffer.
const stack = await startStack({
  env: {
    WS_MAX_INFLIGHT: '2',
    WS_AUTH_TIMEOUT_MS: '300',
    WS_MAX_BUFFERED_BYTES: String(64 * 1024),
    WS_ALLOWED_ORIGINS: 'https://editor.example',
  },
});
t.teardown(() => stack.close());

const KEY = 'local-only';
const rowCount = async () => (await stack.db.selectFrom('turns').select('id').execute()).length;
const storedTurns = async (input: string) =>
  (await stack.db.selectFrom('turns').select('id').where('user_input', '=', input).execute()).length;
// The worker logs a cancel where it gives the request up: from that line on, nothing is stored.
const cancelLogs = () =>
  stack.logs.lines.filter((l) => l['worker'] !== undefined && l['code'] === 'request_cancelled').length;
// 10 s of answer: a backend that sees an abort (not a finished answer) was stopped by the client.
const long = { tokens: Array.from({ length: 200 }, (_, i) => `t${i} `), tokenDelayMs: 50 };
const clients: LiveClient[] = [];
t.afterEach(() => {
  for (const client of clients.splice(0)) client.socket.terminate();
});
/** A client authenticated by header, past its `ready` frame. */
async function connected(): Promise<LiveClient> {
  const client = await openLiveClient(stack.baseUrl, { headerKey: KEY });
  clients.push(client);
  await client.next((f) => f.type === 'ready');
  return client;
}
const ask = (id: string, content: string, extra: Record<string, unknown> = {}) => ({
  type: 'chat',
  id,
  agent: 'code_review',
  messages: [{ role: 'user', content }],
  ...extra,
});

t.test('Authorization header: ready frame lists the agents and the per-socket limit', async (t) => {
  const client = await openLiveClient(stack.baseUrl, { headerKey: KEY });
  clients.push(client);
  const ready = await client.next<ReadyFrame>();
  t.match(ready, { type: 'ready', v: 1, max_inflight: 2 });
  t.same(
    ready.agents.map((a) => a.name),
    stack.catalog.names,
  );
  t.ok(ready.agents.every((a) => a.description.length > 0));
  t.same(client.invalidFrames, []);
});

t.test('a chat streams deltas in order and ends with one done frame; the turn is stored', async (t) => {
  stack.ollama.behave({ tokens: ['Hel', 'lo', ' over', ' a', ' socket'], tokenDelayMs: 5 });
  const before = await rowCount();
  const client = await connected();
  client.send(ask('q1', 'hello'));
  const { text, seqs, terminal } = await client.finish('q1');
  t.equal(text, 'Hello over a socket');
  t.same(
    seqs,
    seqs.map((_, i) => i),
    'seq counts from 0 without gaps, the terminal frame included',
  );
  const done = terminal as ServerDoneFrame;
  t.match(done, {
    type: 'done',
    id: 'q1',
    finish_reason: 'stop',
    usage: { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 },
    meta: {
      memory_used: false,
      cached: false,
      agent: 'code_review',
      model: 'llama3.2',
      processing_time: /^\d+\.\d\ds$/,
    },
    conversation_id: /^conv_/,
    completion_id: /^chatcmpl-/,
  });
  t.equal(await rowCount(), before + 1);
  const row = await stack.db
    .selectFrom('turns')
    .selectAll()
    .where('request_id', '=', done.completion_id)
    .executeTakeFirstOrThrow();
  t.match(row, {
    session_id: done.conversation_id,
    agent: 'code_review',
    user_input: 'hello',
    assistant_response: 'Hello over a socket',
  });
  t.same(client.invalidFrames, []);
});

t.test('session_id continues the conversation from memory; "model" names the agent too', async (t) => {
  stack.ollama.behave({ tokens: ['first answer'] });
  const client = await connected();
  client.send(ask('a', 'remember the number 42'));
  const first = (await client.finish('a')).terminal as ServerDoneFrame;
  stack.ollama.behave({ tokens: ['it was 42'] });
  client.send({
    type: 'chat',
    id: 'b',
    model: 'code_review',
    session_id: first.conversation_id,
    messages: [{ role: 'user', content: 'which number?' }],
  });
  const second = (await client.finish('b')).terminal as ServerDoneFrame;
  t.equal(second.type, 'done');
  t.equal(second.conversation_id, first.conversation_id);
  t.equal(second.meta.memory_used, true);
  const sent = stack.ollama.requests.at(-1)!.messages.map((m) => `${m.role}:${m.content}`);
  t.same(sent.slice(-3), ['user:remember the number 42', 'assistant:first answer', 'user:which number?']);
});

t.test('sampling options and tools travel as over HTTP; tool calls stream as OpenAI fragments', async (t) => {
  stack.ollama.behave({ tokens: [], toolCalls: [{ name: 'get_weather', arguments: { city: 'Dhaka' } }] });
  const client = await connected();
  const tools = [
    {
      type: 'function',
      function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
    },
  ];
  client.send(ask('tool', 'weather in Dhaka?', { tools, temperature: 0.3, max_tokens: 50, seed: 7 }));
  const { terminal } = await client.finish('tool');
  t.match(terminal, { type: 'done', finish_reason: 'tool_calls' });
  const fragments = client.frames.flatMap((f) => (f.type === 'delta' && f.id === 'tool' ? (f.tool_calls ?? []) : []));
  t.match(fragments[0], { index: 0, id: String, type: 'function', function: { name: 'get_weather', arguments: '' } });
  t.equal(fragments.map((f) => f.function.arguments).join(''), '{"city":"Dhaka"}');
  const sent = stack.ollama.requests.at(-1)!;
  t.match(sent.options, { temperature: 0.3, num_predict: 50, seed: 7 });
  t.equal(sent.tools?.[0]?.function.name, 'get_weather');
  t.same(client.invalidFrames, []);
});

t.test('two requests in flight on one socket: frames interleave, each tagged by its id', async (t) => {
  stack.ollama.behaveInTurn([
    { tokens: ['a1 ', 'a2 ', 'a3 ', 'a4'], tokenDelayMs: 40 },
    { tokens: ['b1 ', 'b2 ', 'b3 ', 'b4'], tokenDelayMs: 40 },
  ]);
  const client = await connected();
  client.send(ask('one', 'first'));
  client.send(ask('two', 'second'));
  const [one, two] = await Promise.all([client.finish('one'), client.finish('two')]);
  t.equal(one.terminal.type, 'done');
  t.equal(two.terminal.type, 'done');
  t.same([one.text, two.text].sort(), ['a1 a2 a3 a4', 'b1 b2 b3 b4']);
  const order = client.frames.filter((f) => f.type === 'delta').map((f) => (f as { id: string }).id);
  const firstDone = client.frames.findIndex((f) => f.type === 'done');
  const deltasBeforeFirstDone = new Set(
    client.frames
      .slice(0, firstDone)
      .filter((f) => f.type === 'delta')
      .map((f) => (f as { id: string }).id),
  );
  t.same(
    [...deltasBeforeFirstDone].sort(),
    ['one', 'two'],
    `both streamed before either finished (delta order: ${order.join(',')})`,
  );
});

t.test('beyond WS_MAX_INFLIGHT a request gets a 429-class error; the others carry on', async (t) => {
  stack.ollama.behave({ tokens: ['slow ', 'answer'], firstTokenDelayMs: 300 });
  const client = await connected();
  client.send(ask('r1', 'one'));
  client.send(ask('r2', 'two'));
  client.send(ask('r3', 'three'));
  const refused = await client.finish('r3');
  t.match(refused.terminal, {
    type: 'error',
    id: 'r3',
    error: { code: 'too_many_concurrent_requests', type: 'requests', message: /WS_MAX_INFLIGHT/ },
  });
  t.equal((await client.finish('r1')).terminal.type, 'done');
  t.equal((await client.finish('r2')).terminal.type, 'done');
  // A slot is free again.
  stack.ollama.behave({});
  client.send(ask('r4', 'four'));
  t.equal((await client.finish('r4')).terminal.type, 'done');
});

t.test('an id already in flight is refused; the first request is unaffected', async (t) => {
  stack.ollama.behave({ tokens: ['x'], firstTokenDelayMs: 200 });
  const client = await connected();
  client.send(ask('same', 'one'));
  client.send(ask('same', 'two'));
  const error = await client.next<ServerErrorFrame>((f) => f.type === 'error');
  t.match(
    error,
    { id: null, error: { code: 'invalid_request', param: 'id', message: /"same" is already in flight/ } },
    'untagged: it does not end the request in flight',
  );
  t.equal(error.refused_id, 'same', 'refused_id names the refused frame');
  t.notOk('seq' in error);
  t.equal((await client.finish('same')).terminal.type, 'done');
});

t.test(
  'cancel mid-stream aborts the backend request; the terminal frame says cancelled; nothing is stored',
  async (t) => {
    stack.ollama.behave(long);
    const before = await rowCount();
    const cancelsBefore = cancelLogs();
    const client = await connected();
    const sent = stack.ollama.requests.length;
    client.send(ask('c1', 'long answer please'));
    await client.next((f) => f.type === 'delta' && f.id === 'c1');
    client.send({ type: 'cancel', id: 'c1' });
    const { terminal } = await client.finish('c1');
    t.match(terminal, { type: 'error', id: 'c1', error: { code: 'request_cancelled' } });
    t.equal(stack.ollama.requests.length, sent + 1);
    await waitFor('the backend request to be aborted', () => stack.ollama.requests.at(-1)!.aborted);
    await waitFor('the worker to log the cancel', () => cancelLogs() > cancelsBefore);
    t.equal(await rowCount(), before, 'a cancelled turn is not stored');
    // Cancelling again, or an unknown id, stops nothing and says so, untagged: c1 has had its one
    // terminal frame, and "never-sent" none to end. The socket carries on.
    client.send({ type: 'cancel', id: 'c1' });
    client.send({ type: 'cancel', id: 'never-sent' });
    stack.ollama.behave({});
    client.send(ask('c2', 'again'));
    t.equal((await client.finish('c2')).terminal.type, 'done');
    const notActive = client.frames.filter((f) => f.type === 'error' && f.error.code === 'cancel_not_active');
    t.match(notActive, [
      { id: null, refused_id: 'c1', error: { param: 'id', message: /No request with id "c1" is in flight/ } },
      { id: null, refused_id: 'never-sent', error: { param: 'id', message: /"never-sent"/ } },
    ]);
    t.notOk(notActive.some((f) => 'seq' in f));
    t.equal(client.frames.filter((f) => f.type === 'error' && f.id === 'c1').length, 1, 'c1 ended once');
  },
);

t.test('a bad cancel or ping naming an ended request is refused untagged: that request ended once', async (t) => {
  stack.ollama.behave({});
  const client = await connected();
  client.send(ask('ended', 'hi'));
  t.equal((await client.finish('ended')).terminal.type, 'done');
  // Neither frame starts a request: their id names one that has had its terminal frame.
  client.send({ type: 'cancel', id: 'ended', extra: 1 });
  client.send({ type: 'ping', id: 'ended', extra: 1 });
  client.send({ type: 'ping', id: 'after' });
  await client.next((f) => f.type === 'pong' && f.id === 'after');
  const refused = client.frames.filter((f) => f.type === 'error' && f.error.param === 'extra');
  t.match(refused, [
    { id: null, refused_id: 'ended', error: { message: /Invalid cancel frame/ } },
    { id: null, refused_id: 'ended', error: { message: /Invalid ping frame/ } },
  ]);
  t.notOk(refused.some((f) => 'seq' in f));
  const ended = client.frames.filter((f) => 'id' in f && f.id === 'ended' && f.type !== 'delta');
  t.equal(ended.length, 1, 'ended ended once');
  t.same(client.invalidFrames, []);
});

t.test(
  'cancel racing the end of an answer: the terminal frame says truthfully whether the turn was stored',
  async (t) => {
    // With little or no delay between tokens the worker may finish (and store) before the cancel
    // lands; either outcome is fine, as long as the client is told which one happened.
    const client = await connected();
    const outcomes = { done: 0, cancelled: 0 };
    const cancelled: string[] = [];
    for (let i = 0; i < 12; i++) {
      stack.ollama.behave({ tokens: ['a', 'b', 'c', 'd'], tokenDelayMs: [0, 1, 2, 10][i % 4]! });
      const id = `race${i}`;
      client.send(ask(id, `race ${i}`));
      await client.next((f) => f.type === 'delta' && f.id === id);
      client.send({ type: 'cancel', id });
      const { terminal } = await client.finish(id);
      // No sleep: stack.db's reads wait for pending turns to settle (committed once done reached
      // the client), and a cancel's error comes only once the worker gave the request up.
      const stored = await storedTurns(`race ${i}`);
      if (terminal.type === 'done') {
        outcomes.done++;
        t.equal(stored, 1, `${id}: done → stored`);
      } else {
        outcomes.cancelled++;
        cancelled.push(`race ${i}`);
        t.match(terminal, { type: 'error', error: { code: 'request_cancelled' } });
        t.equal(stored, 0, `${id}: cancelled → not stored`);
      }
    }
    // And stays so: no cancelled turn was written later, while the other races ran.
    for (const input of cancelled) t.equal(await storedTurns(input), 0, `${input}: still not stored`);
    t.comment(`outcomes: ${JSON.stringify(outcomes)}`);
  },
);

t.test('a bad frame naming an id in flight does not end that request', async (t) => {
  stack.ollama.behave({ tokens: ['one ', 'two ', 'three'], tokenDelayMs: 60 });
  const client = await connected();
  client.send(ask('live', 'count'));
  await client.next((f) => f.type === 'delta' && f.id === 'live');
  client.send({ type: 'cancel', id: 'live', extra: 1 });
  client.send({ type: 'chat', id: 'live', agent: 'code_review' });
  client.send({ type: 'teleport', id: 'live' });
  const { text, seqs, terminal } = await client.finish('live');
  t.equal(terminal.type, 'done');
  t.equal(text, 'one two three');
  t.same(
    seqs,
    seqs.map((_, i) => i),
  );
  const refusals = client.frames.filter((f) => f.type === 'error');
  t.equal(refusals.length, 3);
  t.ok(
    refusals.every((f) => f.type === 'error' && f.id === null),
    'each refusal is untagged',
  );
});

t.test('closing the socket mid-stream aborts the backend request; nothing is stored', async (t) => {
  stack.ollama.behave(long);
  const before = await rowCount();
  const cancelsBefore = cancelLogs();
  const client = await connected();
  client.send(ask('x1', 'long answer please'));
  await client.next((f) => f.type === 'delta');
  client.close();
  await waitFor('the backend request to be aborted', () => stack.ollama.requests.at(-1)!.aborted);
  await waitFor('the worker to log the cancel', () => cancelLogs() > cancelsBefore);
  t.equal(await rowCount(), before);
});

t.test('bad frames get an error frame and the socket stays usable', async (t) => {
  stack.ollama.behave({});
  const before = await rowCount();
  const client = await connected();
  const expectError = async (frame: object | string | Buffer, expected: object) => {
    if (Buffer.isBuffer(frame)) client.socket.send(frame, { binary: true });
    else client.send(frame);
    t.match(
      await client.next((f) => f.type === 'error'),
      { type: 'error', ...expected },
      JSON.stringify(frame).slice(0, 80),
    );
  };
  await expectError('{not json', { id: null, error: { code: 'invalid_json', type: 'invalid_request_error' } });
  await expectError('[1,2]', { id: null, error: { code: 'invalid_request', message: /JSON object/ } });
  await expectError(
    { type: 'teleport', id: 'z' },
    {
      id: 'z',
      error: {
        code: 'invalid_request',
        param: 'type',
        message: /Unknown frame type "teleport".*auth, chat, response.create, cancel, ping/,
      },
    },
  );
  await expectError({ id: 'z' }, { id: 'z', error: { code: 'invalid_request', param: 'type' } });
  await expectError(
    { type: 'chat', id: 'm1', agent: 'code_review' },
    { id: 'm1', error: { code: 'invalid_request', param: 'messages', message: /messages is required/ } },
  );
  await expectError(
    { type: 'chat', agent: 'code_review', messages: [{ role: 'user', content: 'hi' }] },
    { id: null, error: { code: 'invalid_request', param: 'id' } },
  );
  await expectError(
    { type: 'chat', id: 'bad id with spaces', agent: 'code_review', messages: [] },
    { id: null, error: { param: 'id' } },
  );
  await expectError(ask('m3', 'hi', { agent: 'nobody' }), {
    id: 'm3',
    seq: 0,
    error: {
      code: 'model_not_found',
      param: 'agent',
      message: /^The agent "nobody" does not exist. Known agents: .*code_review/,
    },
  });
  await expectError(ask('m4', 'hi', { model: 'testing' }), {
    id: 'm4',
    error: { code: 'invalid_request', param: 'agent', message: /different agents/ },
  });
  await expectError(ask('m5', 'hi', { temperature: '0.5' }), {
    id: 'm5',
    error: { code: 'invalid_request', param: 'temperature' },
  });
  await expectError(ask('m6', 'hi', { n: 3 }), { id: 'm6', error: { code: 'invalid_request', param: 'n' } });
  await expectError(ask('m7', 'hi', { session_id: 'conv_does_not_exist' }), {
    id: 'm7',
    seq: 0,
    error: { code: 'session_not_found', param: 'session_id' },
  });
  await expectError({ type: 'cancel' }, { id: null, error: { param: 'id' } });
  await expectError(
    { type: 'cancel', id: 'c', extra: 1 },
    // A cancel starts no request: its id is not tagged as one's first and last frame.
    { id: null, refused_id: 'c', error: { param: 'extra', message: /not allowed/ } },
  );
  await expectError(
    { type: 'auth', api_key: KEY },
    { id: null, error: { code: 'invalid_request', message: /already authenticated/ } },
  );
  await expectError(Buffer.from('{"type":"ping"}'), { id: null, error: { message: /binary/ } });
  client.send({ type: 'ping', id: 'p1' });
  t.same(await client.next((f) => f.type === 'pong'), { type: 'pong', id: 'p1' });
  client.send(ask('ok', 'still there?'));
  t.equal((await client.finish('ok')).terminal.type, 'done', 'the socket still answers');
  // Naming no agent is not an error: the router chooses, as for "auto".
  client.send(ask('m2', 'hi', { agent: undefined }));
  t.match((await client.finish('m2')).terminal, {
    type: 'done',
    meta: { routing: { by: String, agents: ['documentation'] } },
  });
  t.equal(await rowCount(), before + 2, 'no row for any rejected frame');
  t.equal(client.socket.readyState, WebSocket.OPEN);
  t.same(client.invalidFrames, []);
});

t.test('a frame over BODY_LIMIT_BYTES closes the socket with 1009', async (t) => {
  const client = await connected();
  client.send(ask('big', 'x'.repeat(stack.config.bodyLimitBytes + 10)));
  t.match(await client.closed, { code: 1009 });
});

t.test('before authentication, a frame over 8 KiB closes the socket unread (1009)', async (t) => {
  const client = await openLiveClient(stack.baseUrl);
  client.send(ask('huge', 'x'.repeat(9 * 1024)));
  t.match(await client.closed, { code: 1009, reason: /authentication first/ });
});

t.test("browsers on other sites may not connect; the gateway's own origin and WS_ALLOWED_ORIGINS may", async (t) => {
  const open = (origin: string) =>
    new Promise<number>((resolve) => {
      const socket = new WebSocket(`${stack.baseUrl.replace(/^http/, 'ws')}/v1/ws`, { origin });
      socket.once('open', () => {
        socket.terminate();
        resolve(101);
      });
      socket.once('unexpected-response', (_req, res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      socket.once('error', () => resolve(-1));
    });
  t.equal(await open('https://evil.example'), 403);
  t.equal(await open('null'), 403);
  t.equal(await open(stack.baseUrl), 101, 'same origin (the playground)');
  t.equal(await open('https://editor.example'), 101, 'listed in WS_ALLOWED_ORIGINS');
});

t.test('an upgrade request to another route is closed at once, and leaves no connection behind', async (t) => {
  const server = stack.app.server;
  const connections = () => new Promise<number>((resolve) => server.getConnections((_err, count) => resolve(count)));
  const before = await connections();
  const { port } = new URL(stack.baseUrl);
  const socket = connectTcp(Number(port), '127.0.0.1');
  socket.write(
    `GET /health HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
  );
  const response = await new Promise<Buffer>((resolve) => {
    let received = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      // A close frame (opcode 0x8, FIN set) after the handshake.
      if (received.includes(0x88)) resolve(received);
    });
  });
  t.match(response.toString('latin1'), /^HTTP\/1\.1 101 /, 'the upgrade is accepted only to be closed');
  socket.end();
  await waitFor('the connection to be gone', async () => (await connections()) <= before);
  t.pass('no connection left');
});

t.test('auth: a wrong key in the header refuses the upgrade with 401', async (t) => {
  const refused = await openLiveClient(stack.baseUrl, { headerKey: 'wrong-key' }).then(
    () => undefined,
    (err: { statusCode?: number }) => err,
  );
  t.equal(refused?.statusCode, 401);
});

t.test('auth: the auth frame works for clients without headers (browsers)', async (t) => {
  const client = await openLiveClient(stack.baseUrl);
  clients.push(client);
  // Anything before auth (but ping) is refused without closing the socket.
  client.send(ask('early', 'hi'));
  t.match(await client.next(), {
    type: 'error',
    id: 'early',
    error: { code: 'invalid_api_key', message: /Authenticate first/ },
  });
  // A cancel starts no request: its refusal names its id without ending "early" a second time.
  client.send({ type: 'cancel', id: 'early' });
  const cancel = await client.next();
  t.match(cancel, { type: 'error', id: null, refused_id: 'early', error: { code: 'invalid_api_key' } });
  t.notOk('seq' in cancel);
  client.send({ type: 'auth', api_key: KEY });
  t.match(await client.next(), { type: 'ready' });
  client.send(ask('late', 'hi'));
  t.equal((await client.finish('late')).terminal.type, 'done');
});

t.test('auth: a wrong key in the auth frame gets an error frame and close code 4401', async (t) => {
  const client = await openLiveClient(stack.baseUrl, { authFrameKey: 'wrong-key' });
  t.match(await client.next(), {
    type: 'error',
    id: null,
    error: { code: 'invalid_api_key', message: 'Incorrect API key provided.' },
  });
  t.same(await client.closed, { code: 4401, reason: 'invalid API key' });
});

t.test('auth: a socket that never authenticates is closed with 4408 after WS_AUTH_TIMEOUT_MS', async (t) => {
  const openedAt = Date.now();
  const client = await openLiveClient(stack.baseUrl);
  t.match(await client.next(), {
    type: 'error',
    id: null,
    error: { code: 'invalid_api_key', message: /No auth frame within 300 ms/ },
  });
  t.same(await client.closed, { code: 4408, reason: 'authentication timeout' });
  t.ok(Date.now() - openedAt >= 250);
});

t.test('a malformed handshake is a 400 in the OpenAI error shape (ws answers in plain text)', async (t) => {
  const { port } = new URL(stack.baseUrl);
  for (const [headers, fault] of [
    ['Sec-WebSocket-Version: 13', /Sec-WebSocket-Key/],
    ['Sec-WebSocket-Version: 99\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', /Sec-WebSocket-Version/],
    [
      'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: a, a',
      /Sec-WebSocket-Protocol/,
    ],
  ] as const) {
    const socket = connectTcp(Number(port), '127.0.0.1');
    socket.write(`GET /v1/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n${headers}\r\n\r\n`);
    const response = await new Promise<string>((resolve) => {
      let received = '';
      socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
      socket.on('close', () => resolve(received));
    });
    t.match(response, /^HTTP\/1\.1 400 /);
    t.match(JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4)), {
      error: { code: 'invalid_request', type: 'invalid_request_error', param: null, message: fault },
    });
    const head = response.slice(0, response.indexOf('\r\n\r\n'));
    // RFC 6455, section 4.4: a refused version is answered with the versions served.
    if (headers.includes('Version: 99')) t.match(head, /\r\nSec-WebSocket-Version: 13, 8\r\n/);
    else t.notMatch(head, /Sec-WebSocket-Version/);
  }
});

t.test('a plain HTTP GET on /v1/ws is a 426 in the OpenAI error shape', async (t) => {
  const res = await fetch(`${stack.baseUrl}/v1/ws`);
  t.equal(res.status, 426);
  t.equal(res.headers.get('upgrade'), 'websocket', 'a 426 names the protocol (RFC 9110)');
  t.match(await res.json(), {
    error: { code: 'upgrade_required', type: 'invalid_request_error', param: null, message: /WebSocket/ },
  });
});

t.test(
  'a reader that stops reading is dropped before the gateway buffers more than WS_MAX_BUFFERED_BYTES',
  async (t) => {
    // Up to 4,000 deltas of 16 KB (64 MB) over several seconds: the kernel's socket buffers on
    // both ends fill long before the model would finish, so the gateway's own buffer must grow.
    stack.ollama.behave({ tokens: Array.from({ length: 4000 }, () => 'x'.repeat(16 * 1024)), tokenDelayMs: 2 });
    const client = await connected();
    const raw = (client.socket as unknown as { _socket: import('node:net').Socket })._socket;
    raw.pause();
    client.send(ask('flood', 'say a lot'));
    await waitFor(
      'the gateway to drop the slow reader',
      () => stack.logs.lines.some((l) => typeof l['msg'] === 'string' && /reader too slow/.test(l['msg'])),
      15_000,
    );
    await waitFor('the backend request to be aborted', () => stack.ollama.requests.at(-1)!.aborted, 5000);
    raw.resume();
    const { code } = await client.closed;
    t.ok(code === 4008 || code === 1006, `closed (${code}): 4008 when the close frame got through, else cut`);
  },
);

t.test('gateway shutdown closes open sockets with 1001', async (t) => {
  const client = await connected();
  await stack.app.close();
  t.same(await client.closed, { code: 1001, reason: 'gateway shutting down' });
});
