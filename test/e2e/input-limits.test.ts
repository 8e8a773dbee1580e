import t, { type Test } from 'tap';
import type { ServerErrorFrame } from '../../gateway/websocket/frames.schema.js';
import { rawExchange } from '../helpers/raw-http.js';
import { AUTH, startStack } from '../helpers/stack.js';
import { openLiveClient, type LiveClient } from '../helpers/ws-client.js';

// Small limits, so "just under" and "just over" each limit are small requests.
const LIMITS = {
  MAX_MESSAGES: 3,
  MAX_MESSAGE_CHARS: 100,
  MAX_INPUT_CHARS: 250,
  MAX_JSON_DEPTH: 8,
  MAX_TOOLS: 2,
  MAX_TOOL_SCHEMA_BYTES: 300,
  MAX_HEADER_BYTES: 2048,
  BODY_LIMIT_BYTES: 8192,
};
const stack = await startStack({ env: Object.fromEntries(Object.entries(LIMITS).map(([k, v]) => [k, String(v)])) });
t.teardown(() => stack.close());
const rowCount = async () => (await stack.db.selectFrom('turns').select('id').execute()).length;

const user = (content: unknown) => ({ role: 'user', content });
const base = { model: 'testing', messages: [user('hi')] };
const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
const tool = (name: string, padding = 0) => ({
  type: 'function',
  function: { name, description: 'd'.repeat(padding), parameters: { type: 'object', properties: {} } },
});
const toolBytes = (padding: number) => Buffer.byteLength(JSON.stringify(tool('f0', padding)));
// The padding that makes one tool definition exactly `bytes` long as JSON.
const paddingFor = (bytes: number) => bytes - toolBytes(0);

// A tool call whose arguments (a JSON object, as Ollama takes them) are exactly `chars` characters.
const toolCall = (id: string, chars: number) => ({
  id,
  type: 'function',
  function: { name: 'f', arguments: `{"a":"${'a'.repeat(chars - 8)}"}` },
});
// A response_format exactly `bytes` long as JSON.
const jsonFormat = (bytes: number) => {
  const format = (pad: string) => ({
    type: 'json_schema',
    json_schema: { name: 'answer', schema: { type: 'object', description: pad } },
  });
  return format('d'.repeat(bytes - Buffer.byteLength(JSON.stringify(format('')))));
};

/** Each limit: a body just under it (accepted) and one just over it (refused with its own code). */
const CASES: Array<{ name: string; under: string; over: string; code: string; param: string | null; status?: number }> =
  [
    {
      name: 'MAX_MESSAGES',
      under: JSON.stringify({ ...base, messages: [user('a'), { role: 'assistant', content: 'b' }, user('c')] }),
      over: JSON.stringify({
        ...base,
        messages: [user('a'), { role: 'assistant', content: 'b' }, user('c'), user('d')],
      }),
      code: 'too_many_messages',
      param: 'messages',
    },
    {
      name: 'MAX_MESSAGE_CHARS (string content)',
      under: JSON.stringify({ ...base, messages: [user('x'.repeat(100))] }),
      over: JSON.stringify({ ...base, messages: [user('ok'), user('x'.repeat(101))] }),
      code: 'message_too_long',
      param: 'messages[1].content',
    },
    {
      name: 'MAX_MESSAGE_CHARS (text parts summed)',
      under: JSON.stringify({
        ...base,
        messages: [
          user([
            { type: 'text', text: 'x'.repeat(50) },
            { type: 'text', text: 'y'.repeat(50) },
          ]),
        ],
      }),
      over: JSON.stringify({
        ...base,
        messages: [
          user([
            { type: 'text', text: 'x'.repeat(50) },
            { type: 'text', text: 'y'.repeat(51) },
          ]),
        ],
      }),
      code: 'message_too_long',
      param: 'messages[0].content',
    },
    {
      // Tool call arguments are copied into the envelope and stored: they count with the text.
      name: 'MAX_MESSAGE_CHARS (tool call arguments count)',
      under: JSON.stringify({
        ...base,
        messages: [
          { role: 'assistant', content: 'x'.repeat(40), tool_calls: [toolCall('c1', 60)] },
          { role: 'tool', tool_call_id: 'c1', content: 'r' },
          user('go on'),
        ],
      }),
      over: JSON.stringify({
        ...base,
        messages: [
          { role: 'assistant', content: 'x'.repeat(40), tool_calls: [toolCall('c1', 30), toolCall('c2', 31)] },
          { role: 'tool', tool_call_id: 'c1', content: 'r' },
          user('go on'),
        ],
      }),
      code: 'message_too_long',
      param: 'messages[0].tool_calls',
    },
    {
      // What one stored turn keeps of the input: every message together.
      name: 'MAX_INPUT_CHARS (all messages together)',
      under: JSON.stringify({
        ...base,
        messages: [user('x'.repeat(100)), { role: 'assistant', content: 'y'.repeat(100) }, user('z'.repeat(50))],
      }),
      over: JSON.stringify({
        ...base,
        messages: [user('x'.repeat(100)), { role: 'assistant', content: 'y'.repeat(100) }, user('z'.repeat(51))],
      }),
      code: 'request_too_large',
      param: 'messages',
      status: 413,
    },
    {
      // The body is depth 1, its unknown field `x` adds the rest.
      name: 'MAX_JSON_DEPTH',
      under: `{"model":"testing","messages":[{"role":"user","content":"hi"}],"x":${nested(7)}}`,
      over: `{"model":"testing","messages":[{"role":"user","content":"hi"}],"x":${nested(8)}}`,
      code: 'json_too_deep',
      param: null,
    },
    {
      name: 'MAX_TOOLS',
      under: JSON.stringify({ ...base, tools: [tool('a'), tool('b')] }),
      over: JSON.stringify({ ...base, tools: [tool('a'), tool('b'), tool('c')] }),
      code: 'too_many_tools',
      param: 'tools',
    },
    {
      name: 'MAX_TOOL_SCHEMA_BYTES',
      under: JSON.stringify({ ...base, tools: [tool('f0', paddingFor(300))] }),
      over: JSON.stringify({ ...base, tools: [tool('f1'), tool('f0', paddingFor(301))] }),
      code: 'tool_schema_too_large',
      param: 'tools[1]',
    },
    {
      name: 'MAX_TOOL_SCHEMA_BYTES (response_format)',
      under: JSON.stringify({ ...base, response_format: jsonFormat(300) }),
      over: JSON.stringify({ ...base, response_format: jsonFormat(301) }),
      code: 'tool_schema_too_large',
      param: 'response_format',
    },
  ];

async function expectError(t: Test, res: Response, status: number, code: string, param: string | null) {
  t.equal(res.status, status, `${code}: status ${status}`);
  const body: any = await res.json();
  t.same(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type'], `${code}: OpenAI error shape`);
  t.equal(body.error.code, code);
  t.equal(body.error.param, param, `${code}: param`);
  return body.error.message as string;
}
const post = (path: string, body: string, headers: Record<string, string> = AUTH) =>
  fetch(`${stack.baseUrl}${path}`, { method: 'POST', headers, body });

t.test('HTTP: each limit answers just under it and refuses just over it with its own code', async (t) => {
  t.equal(toolBytes(paddingFor(300)), 300, 'the tool padding is exact');
  t.equal(Buffer.byteLength(JSON.stringify(jsonFormat(300))), 300, 'the response_format padding is exact');
  for (const c of CASES) {
    const before = await rowCount();
    t.equal((await post('/v1/chat/completions', c.under)).status, 200, `${c.name}: just under is answered`);
    const message = await expectError(t, await post('/v1/chat/completions', c.over), c.status ?? 400, c.code, c.param);
    t.match(message, c.name.split(' ')[0]!, `${c.name}: the message names the variable`);
    t.equal(await rowCount(), before + 1, `${c.name}: only the accepted request wrote a turn`);
  }
});

t.test('HTTP: the body limit (413) and the header limit (431) keep their codes', async (t) => {
  const padded = (size: number) => {
    const skeleton = JSON.stringify({ ...base, pad: '' });
    return JSON.stringify({ ...base, pad: 'p'.repeat(size - skeleton.length) });
  };
  t.equal((await post('/v1/chat/completions', padded(8192))).status, 200, 'a body of BODY_LIMIT_BYTES is answered');
  const message = await expectError(
    t,
    await post('/v1/chat/completions', padded(8193)),
    413,
    'request_too_large',
    null,
  );
  t.match(message, /BODY_LIMIT_BYTES/);
  t.equal(
    (await fetch(`${stack.baseUrl}/health`, { headers: { 'x-pad': 'h'.repeat(1500) } })).status,
    200,
    'headers under MAX_HEADER_BYTES pass',
  );
  // Node's HTTP parser refuses the head before fastify sees it; a raw socket shows the answer.
  const raw = await rawExchange(stack.baseUrl, `GET /health HTTP/1.1\r\nHost: x\r\nX-Pad: ${'h'.repeat(2100)}\r\n\r\n`);
  t.match(raw, /^HTTP\/1\.1 431 /);
  t.match(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)), {
    error: { code: 'headers_too_large', message: /MAX_HEADER_BYTES/, param: null },
  });
});

t.test('HTTP: prototype-pollution keys are refused as forbidden_json_key; a plain "constructor" is fine', async (t) => {
  await expectError(
    t,
    await post(
      '/v1/chat/completions',
      '{"model":"testing","messages":[{"role":"user","content":"hi","__proto__":{"polluted":1}}]}',
    ),
    400,
    'forbidden_json_key',
    null,
  );
  await expectError(
    t,
    await post(
      '/v1/chat/completions',
      '{"model":"testing","messages":[{"role":"user","content":"hi"}],"x":{"constructor":{"prototype":{"polluted":1}}}}',
    ),
    400,
    'forbidden_json_key',
    null,
  );
  await expectError(
    t,
    await post('/query', '{"query":"hi","__proto__":{"polluted":1}}'),
    400,
    'forbidden_json_key',
    null,
  );
  t.equal(
    (await post('/v1/chat/completions', JSON.stringify({ ...base, x: { constructor: 'just a word' } }))).status,
    200,
  );
  t.equal(({} as Record<string, unknown>)['polluted'], undefined, 'Object.prototype is untouched');
  await expectError(t, await post('/v1/chat/completions', ''), 400, 'invalid_json', null);
  await expectError(t, await post('/v1/chat/completions', '{"model":'), 400, 'invalid_json', null);
});

t.test('legacy routes: the same limits, naming their own fields', async (t) => {
  const before = await rowCount();
  t.equal((await post('/query', JSON.stringify({ query: 'q'.repeat(100), agent: 'testing' }))).status, 200);
  await expectError(
    t,
    await post('/query', JSON.stringify({ query: 'q'.repeat(101), agent: 'testing' })),
    400,
    'message_too_long',
    'query',
  );
  await expectError(
    t,
    await post('/query', JSON.stringify({ query: 'q', system: 's'.repeat(101), agent: 'testing' })),
    400,
    'message_too_long',
    'system',
  );
  t.equal(
    (await post('/api/generate', JSON.stringify({ prompt: 'p'.repeat(100), model: 'testing', stream: false }))).status,
    200,
  );
  await expectError(
    t,
    await post('/api/generate', JSON.stringify({ prompt: 'p'.repeat(101), model: 'testing', stream: false })),
    400,
    'message_too_long',
    'prompt',
  );
  await expectError(
    t,
    await post('/api/generate', `{"prompt":"p","model":"testing","format":{"a":${nested(8)}}}`),
    400,
    'json_too_deep',
    null,
  );
  await expectError(
    t,
    await post(
      '/agents/testing/v1/chat/completions',
      JSON.stringify({ messages: [user('a'), user('b'), user('c'), user('d')] }),
    ),
    400,
    'too_many_messages',
    'messages',
  );
  t.equal(await rowCount(), before + 2, 'only the two accepted requests wrote turns');
});

t.test('WebSocket: each limit is an error frame for that request; the socket stays usable', async (t) => {
  const client: LiveClient = await openLiveClient(stack.baseUrl, { headerKey: 'local-only' });
  t.teardown(() => client.socket.terminate());
  await client.next((f) => f.type === 'ready');
  // A chat frame is the HTTP body plus type and id, at the same level.
  const asFrame = (body: string, id: string) => `{"type":"chat","id":"${id}",${body.slice(1)}`;
  const before = await rowCount();
  for (const [index, c] of CASES.entries()) {
    client.send(asFrame(c.under, `u${index}`));
    t.equal((await client.finish(`u${index}`, 10_000)).terminal.type, 'done', `${c.name}: just under is answered`);
    client.send(asFrame(c.over, `o${index}`));
    if (c.code === 'json_too_deep') {
      // Refused before parsing, so the frame's id is unknown: the error is the socket's (id null).
      const error = await client.next<ServerErrorFrame>((f) => f.type === 'error' && f.id === null);
      t.match(
        error,
        { type: 'error', id: null, error: { code: 'json_too_deep', message: /MAX_JSON_DEPTH/ } },
        `${c.name}: its own code`,
      );
    } else {
      t.match(
        (await client.finish(`o${index}`)).terminal,
        { type: 'error', id: `o${index}`, seq: 0, error: { code: c.code, param: c.param } },
        `${c.name}: its own code`,
      );
    }
  }
  client.send('{"type":"ping","id":"p1","__proto__":{"polluted":1}}');
  t.match(await client.next((f) => f.type === 'error' && f.id === null), {
    type: 'error',
    id: null,
    error: { code: 'forbidden_json_key' },
  });
  client.send({ type: 'ping', id: 'p2' });
  t.match(await client.next((f) => f.type === 'pong'), { type: 'pong', id: 'p2' }, 'the socket still answers');
  t.equal(await rowCount(), before + CASES.length, 'only the accepted requests wrote turns');
  t.same(client.invalidFrames, []);
});

t.test('WebSocket: the header limit holds for the upgrade request, the body limit for frames', async (t) => {
  const raw = await rawExchange(
    stack.baseUrl,
    `GET /v1/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-Pad: ${'h'.repeat(2100)}\r\n\r\n`,
  );
  t.match(raw, /^HTTP\/1\.1 431 /, 'an oversized upgrade request gets 431');
  const client = await openLiveClient(stack.baseUrl, { headerKey: 'local-only' });
  t.teardown(() => client.socket.terminate());
  await client.next((f) => f.type === 'ready');
  const frame = (size: number) => {
    const skeleton = JSON.stringify({ type: 'chat', id: 'b', agent: 'testing', messages: [user('hi')], pad: '' });
    return JSON.stringify({
      type: 'chat',
      id: 'b',
      agent: 'testing',
      messages: [user('hi')],
      pad: 'p'.repeat(size - skeleton.length),
    });
  };
  client.send(frame(LIMITS.BODY_LIMIT_BYTES));
  t.equal((await client.finish('b', 10_000)).terminal.type, 'done', 'a frame of BODY_LIMIT_BYTES is answered');
  client.send(frame(LIMITS.BODY_LIMIT_BYTES + 1));
  t.equal((await client.closed).code, 1009, 'one byte more closes the socket with 1009');
});
