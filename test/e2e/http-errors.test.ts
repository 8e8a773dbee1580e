import { connect } from 'node:net';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import t, { type Test } from 'tap';
import OpenAI from 'openai';
import { rawExchange } from '../helpers/raw-http.js';
import { AUTH, startStack } from '../helpers/stack.js';

const stack = await startStack({ env: { BODY_LIMIT_BYTES: '4096', REQUEST_RECEIVE_TIMEOUT_MS: '1000' } });
t.teardown(() => stack.close());
const url = `${stack.baseUrl}/v1/chat/completions`;
const rowCount = async () =>
  Number(
    (
      await stack.db
        .selectFrom('turns')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );

async function expectError(t: Test, res: Response, status: number, code: string, param: string | null = null) {
  t.equal(res.status, status, `${code}: status ${status}`);
  const body: any = await res.json();
  t.same(Object.keys(body), ['error'], `${code}: only an error object`);
  t.same(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type'], `${code}: OpenAI error shape`);
  t.equal(body.error.code, code);
  t.equal(body.error.param, param, `${code}: param`);
  t.ok(body.error.message.length > 10, `${code}: says what is wrong`);
  return body.error;
}

t.test('bad input answers 4xx in the OpenAI shape, and nothing is stored', async (t) => {
  const before = await rowCount();
  const send = (body: string, headers: Record<string, string> = AUTH) => fetch(url, { method: 'POST', headers, body });
  const valid = { model: 'testing', messages: [{ role: 'user', content: 'hi' }] };

  await expectError(t, await send('{"model": "testing", '), 400, 'invalid_json');
  await expectError(t, await send(''), 400, 'invalid_json');
  await expectError(t, await send(JSON.stringify({ messages: valid.messages })), 400, 'invalid_request', 'model');
  await expectError(t, await send(JSON.stringify({ model: 'testing' })), 400, 'invalid_request', 'messages');
  // A Responses body sent here: the field it sent is named, not "messages is required".
  const asResponses = await expectError(
    t,
    await send(JSON.stringify({ model: 'testing', input: 'hi' })),
    400,
    'invalid_request',
    'input',
  );
  t.match(asResponses.message, /send the conversation as messages/);
  // Only an assistant's turn may come without content, as in OpenAI's API.
  for (const content of [null, []])
    await expectError(
      t,
      await send(JSON.stringify({ model: 'testing', messages: [{ role: 'user', content }] })),
      400,
      'invalid_request',
      'messages[0].content',
    );
  await expectError(
    t,
    await send(JSON.stringify({ model: 'testing', messages: [] })),
    400,
    'invalid_request',
    'messages',
  );
  await expectError(
    t,
    await send(JSON.stringify({ model: 'testing', messages: [{ content: 'x' }] })),
    400,
    'invalid_request',
    'messages[0].role',
  );
  await expectError(
    t,
    await send(JSON.stringify({ model: 'testing', messages: [{ role: 'robot', content: 'x' }] })),
    400,
    'invalid_request',
    'messages[0].role',
  );
  await expectError(
    t,
    await send(JSON.stringify({ model: 'testing', messages: [{ role: 'user', content: 5 }] })),
    400,
    'invalid_request',
    'messages[0].content',
  );
  await expectError(t, await send(JSON.stringify({ ...valid, temperature: 9 })), 400, 'invalid_request', 'temperature');
  await expectError(
    t,
    await send(JSON.stringify({ ...valid, temperature: '0.5' })),
    400,
    'invalid_request',
    'temperature',
  );
  await expectError(t, await send(JSON.stringify({ ...valid, max_tokens: 0 })), 400, 'invalid_request', 'max_tokens');
  await expectError(
    t,
    await send(JSON.stringify({ ...valid, stop: ['a', 'b', 'c', 'd', 'e'] })),
    400,
    'invalid_request',
    'stop',
  );
  await expectError(t, await send(JSON.stringify({ ...valid, stream: 'yes' })), 400, 'invalid_request', 'stream');
  await expectError(t, await send(JSON.stringify([1, 2])), 400, 'invalid_request');
  await expectError(
    t,
    await send(JSON.stringify({ ...valid, session: 'x' }), { ...AUTH, 'x-session-id': 'has spaces in it' }),
    400,
    'invalid_request',
    'X-Session-ID',
  );
  const unknown = await expectError(
    t,
    await send(JSON.stringify({ ...valid, model: 'gpt-4o' })),
    404,
    'model_not_found',
    'model',
  );
  for (const name of stack.catalog.names) t.match(unknown.message, name, `404 lists ${name}`);
  await expectError(
    t,
    await send(JSON.stringify({ ...valid, messages: [{ role: 'user', content: 'x'.repeat(5000) }] })),
    413,
    'request_too_large',
  );
  await expectError(
    t,
    await send('model=testing', { ...AUTH, 'content-type': 'application/x-www-form-urlencoded' }),
    415,
    'unsupported_media_type',
  );
  await expectError(
    t,
    await send(JSON.stringify(valid), { ...AUTH, 'content-type': 'text/plain' }),
    415,
    'unsupported_media_type',
  );
  // JSON is UTF-8 (RFC 8259): a latin1 body would be read garbled, so it is refused by name.
  const latin1 = Buffer.from(JSON.stringify({ ...valid, messages: [{ role: 'user', content: 'café' }] }), 'latin1');
  const charset = await expectError(
    t,
    await fetch(url, {
      method: 'POST',
      headers: { ...AUTH, 'content-type': 'application/json; charset=latin1' },
      body: latin1,
    }),
    415,
    'unsupported_media_type',
    'Content-Type',
  );
  t.match(charset.message, /"latin1"/);
  // Bytes that are not UTF-8 (a stray byte, an overlong form, an encoded surrogate) were read as U+FFFD.
  for (const bad of [
    [0xff, 0xfe],
    [0xc0, 0xaf],
    [0xed, 0xa0, 0x80],
  ]) {
    const body = Buffer.concat([
      Buffer.from('{"model":"testing","messages":[{"role":"user","content":"x'),
      Buffer.from(bad),
      Buffer.from('"}]}'),
    ]);
    t.match(
      (await expectError(t, await fetch(url, { method: 'POST', headers: AUTH, body }), 400, 'invalid_json')).message,
      /UTF-8/,
    );
  }
  // No Content-Type and no body: the body is missing, not "not an object".
  const { 'content-type': _, ...keyOnly } = AUTH;
  t.match(
    (await expectError(t, await fetch(url, { method: 'POST', headers: keyOnly }), 400, 'invalid_json')).message,
    /empty/,
  );
  const image = await expectError(
    t,
    await send(
      JSON.stringify({
        ...valid,
        messages: [
          { role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/cat.png' } }] },
        ],
      }),
    ),
    400,
    'invalid_request',
    'messages[0].content[0].image_url.url',
  );
  t.match(image.message, /base64 data URL/, 'the message says what is allowed');
  const audio = await expectError(
    t,
    await send(
      JSON.stringify({
        ...valid,
        messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } }] }],
      }),
    ),
    400,
    'invalid_request',
    'messages[0].content[0]',
  );
  t.match(audio.message, /audio input is not supported/);
  await expectError(
    t,
    await send(JSON.stringify({ ...valid, tool_choice: 'auto' })),
    400,
    'invalid_request',
    'tool_choice',
  );
  await expectError(
    t,
    await send(JSON.stringify({ ...valid, messages: [{ role: 'tool', content: 'r' }] })),
    400,
    'invalid_request',
    'messages[0].tool_call_id',
  );
  await expectError(
    t,
    await send(JSON.stringify({ ...valid, messages: [{ role: 'function', name: 'f', content: 'r' }] })),
    400,
    'invalid_request',
    'messages[0].role',
  );
  const stop = await expectError(
    t,
    await send(JSON.stringify({ ...valid, stop: ['a', 'b', 'c', 'd', 'e'] })),
    400,
    'invalid_request',
    'stop',
  );
  t.match(stop.message, /at most 4/);
  for (const [param, value] of [
    ['n', 2],
    ['functions', [{ name: 'f' }]],
    ['logprobs', true],
    ['logit_bias', { '50256': -100 }],
    ['prediction', { type: 'content', content: 'x' }],
  ] as const) {
    const err = await expectError(
      t,
      await send(JSON.stringify({ ...valid, [param]: value })),
      400,
      'invalid_request',
      param,
    );
    t.match(err.message, new RegExp(`"${param}" cannot be honoured`), `${param} is refused, not silently ignored`);
  }
  // OpenAI refuses an empty tool list ("[] is too short - 'tools'"): so does agentbus.
  await expectError(t, await send(JSON.stringify({ ...valid, tools: [] })), 400, 'invalid_request', 'tools');
  for (const harmless of [
    { n: 1 },
    { parallel_tool_calls: true },
    { response_format: { type: 'text' } },
    { logprobs: false },
    { tools: null },
  ]) {
    t.equal(
      (await send(JSON.stringify({ ...valid, ...harmless }))).status,
      200,
      `${JSON.stringify(harmless)} changes nothing and passes`,
    );
  }
  t.equal(await rowCount(), before + 5, 'no memory row for any bad request (the 5 harmless ones were answered)');
  t.equal(stack.ollama.requests.length, 5, 'the model was called only for the harmless ones');
});

t.test("stream_options without stream: 400 with OpenAI's message; /v1/chat/stream always streams", async (t) => {
  const chat = { model: 'testing', messages: [{ role: 'user', content: 'usage please' }] };
  const options = { stream_options: { include_usage: true } };
  const post = (path: string, body: object) =>
    fetch(`${stack.baseUrl}${path}`, { method: 'POST', headers: AUTH, body: JSON.stringify(body) });
  for (const [path, body] of [
    ['/v1/chat/completions', { ...chat, ...options }],
    ['/v1/chat/completions', { ...chat, ...options, stream: false }],
    ['/v1/completions', { model: 'testing', prompt: 'x', ...options }],
    ['/agents/testing/v1/chat/completions', { messages: chat.messages, ...options }],
  ] as const) {
    const err = await expectError(t, await post(path, body), 400, 'invalid_request', 'stream_options');
    t.equal(err.message, "The 'stream_options' parameter is only allowed when 'stream' is enabled.", path);
  }
  t.equal((await post('/v1/chat/completions', { ...chat, stream_options: null })).status, 200, 'null: not sent');
  // A null include_usage (or stream_options) is not sent: the stream is answered, without a usage chunk.
  for (const [path, body] of [
    ['/v1/chat/completions', chat],
    ['/v1/completions', { model: 'testing', prompt: 'x' }],
  ] as const)
    for (const stream_options of [{ include_usage: null }, null]) {
      const res = await post(path, { ...body, stream: true, stream_options });
      const label = `${path} ${JSON.stringify(stream_options)}`;
      t.equal(res.status, 200, `${label}: streamed`);
      const text = await res.text();
      t.ok(text.endsWith('data: [DONE]\n\n') && !text.includes('"choices":[]'), `${label}: no usage chunk`);
    }
  const streamed = await post('/v1/chat/stream', { ...chat, ...options });
  t.equal(streamed.status, 200);
  t.ok((await streamed.text()).endsWith('data: [DONE]\n\n'), '/v1/chat/stream: stream_options applies');
});

t.test('compressed bodies: gzip, deflate and br are decoded; BODY_LIMIT_BYTES bounds the decoded size', async (t) => {
  const body = (content: string) => JSON.stringify({ model: 'testing', messages: [{ role: 'user', content }] });
  const send = (data: Buffer | string, encoding: string) =>
    fetch(url, {
      method: 'POST',
      headers: { ...AUTH, 'content-encoding': encoding },
      body: typeof data === 'string' ? data : new Uint8Array(data),
    });
  for (const [encoding, compress] of [
    ['gzip', gzipSync],
    ['deflate', deflateSync],
    ['br', brotliCompressSync],
  ] as const) {
    const res = await send(compress(body(`sent as ${encoding}`)), encoding);
    t.equal(res.status, 200, `${encoding}: answered`);
    t.match(stack.ollama.requests.at(-1)!.messages.at(-1), { content: `sent as ${encoding}` }, `${encoding}: decoded`);
  }
  t.equal((await send(body('sent as identity'), 'identity')).status, 200, 'identity: as is');

  const calls = stack.ollama.requests.length;
  // About 1 KB compressed, well under the 4096-byte limit; 1 MB decompressed, far over it.
  const bomb = gzipSync(`{"model": "testing", "pad": "${' '.repeat(1_000_000)}"}`);
  t.ok(bomb.length < 4096, 'the compressed body alone is within the limit');
  const tooLarge = await expectError(t, await send(bomb, 'gzip'), 413, 'request_too_large');
  t.match(tooLarge.message, /decompressed/);

  const unknown = await send(body('x'), 'compress');
  t.equal(unknown.headers.get('accept-encoding'), 'gzip, deflate, br', 'the 415 says what is accepted');
  t.match((await expectError(t, unknown, 415, 'unsupported_media_type', 'Content-Encoding')).message, /"compress"/);
  await expectError(
    t,
    await send(gzipSync(gzipSync(body('x'))), 'gzip, gzip'),
    415,
    'unsupported_media_type',
    'Content-Encoding',
  );
  await expectError(t, await send(body('not gzip at all'), 'gzip'), 400, 'invalid_request', 'Content-Encoding');
  t.equal(stack.ollama.requests.length, calls, 'no refused body reached the model');
});

t.test('auth: missing or wrong key is 401; health needs no key', async (t) => {
  const body = JSON.stringify({ model: 'testing', messages: [{ role: 'user', content: 'hi' }] });
  await expectError(
    t,
    await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body }),
    401,
    'invalid_api_key',
  );
  await expectError(
    t,
    await fetch(url, { method: 'POST', headers: { ...AUTH, authorization: 'Bearer nope' }, body }),
    401,
    'invalid_api_key',
  );
  await expectError(
    t,
    await fetch(url, { method: 'POST', headers: { ...AUTH, authorization: 'Basic bG9jYWw=' }, body }),
    401,
    'invalid_api_key',
  );
  await expectError(t, await fetch(`${stack.baseUrl}/v1/models`), 401, 'invalid_api_key');
  t.equal((await fetch(`${stack.baseUrl}/health`)).status, 200);
});

t.test('unknown and malformed URLs, and oversized headers, answer in the OpenAI shape', async (t) => {
  await expectError(
    t,
    await fetch(`${stack.baseUrl}/v1/fine_tuning/jobs`, { method: 'POST', headers: AUTH, body: '{}' }),
    404,
    'unknown_url',
  );
  // Whatever the body holds: no route reads it, so it is no 400 or 413 first.
  for (const body of ['', '{bad', JSON.stringify({ input: 'x'.repeat(10_000) })])
    await expectError(
      t,
      await fetch(`${stack.baseUrl}/v1/batches/batch_x/cancel`, { method: 'POST', headers: AUTH, body }),
      404,
      'unknown_url',
    );
  // Outside /v1/ too.
  await expectError(
    t,
    await fetch(`${stack.baseUrl}/nowhere`, { method: 'POST', headers: AUTH, body: '{bad' }),
    404,
    'unknown_url',
  );
  await expectError(t, await fetch(`${stack.baseUrl}/v1/models/%E0%A4%A`, { headers: AUTH }), 400, 'invalid_request');
  await expectError(
    t,
    await fetch(`${stack.baseUrl}/v1/models/${'x'.repeat(101)}`, { headers: AUTH }),
    414,
    'uri_too_long',
  );
  // Node's HTTP parser refuses these before fastify sees them: a raw socket shows the answer.
  const raw = await rawExchange(
    stack.baseUrl,
    `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
  );
  t.match(raw, /^HTTP\/1\.1 431 [^]*\r\nX-Request-ID: req_[0-9a-f]{32}\r\n/, 'named, as every answer');
  t.match(raw, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/, 'the standard reason phrase, not the code');
  t.same(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)), {
    error: {
      message: 'The request headers are larger than MAX_HEADER_BYTES allows.',
      type: 'invalid_request_error',
      param: null,
      code: 'headers_too_large',
    },
  });
});

t.test('no Host in HTTP/1.1, or a CONNECT: 400 in the OpenAI shape (Node answers empty or not at all)', async (t) => {
  const raw = await rawExchange(stack.baseUrl, 'GET /health HTTP/1.1\r\nConnection: close\r\n\r\n');
  t.match(raw, /^HTTP\/1\.1 400 /);
  const garbage = await rawExchange(stack.baseUrl, 'GARBAGE\r\n\r\n');
  t.match(garbage, /^HTTP\/1\.1 400 Bad Request\r\n/, "Node's parser refused it: the standard reason phrase");
  t.match(JSON.parse(garbage.slice(garbage.indexOf('\r\n\r\n') + 4)), { error: { code: 'invalid_request' } });
  t.match(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)), { error: { code: 'invalid_request', param: 'Host' } });
  t.match(await rawExchange(stack.baseUrl, 'GET /health HTTP/1.0\r\n\r\n'), /^HTTP\/1\.1 200 /);
  // An upgrade is outside Node's HTTP timeouts: left open, its socket would be held for good.
  const upgrade = await rawExchange(
    stack.baseUrl,
    'GET /v1/ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
  );
  t.match(upgrade, /^HTTP\/1\.1 400 [^]*"param":"Host"/, 'answered, and the socket closed (rawExchange resolved)');
  const connect = await rawExchange(stack.baseUrl, 'CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n');
  t.match(connect, /^HTTP\/1\.1 400 /, 'a CONNECT is answered, not dropped');
  t.match(JSON.parse(connect.slice(connect.indexOf('\r\n\r\n') + 4)), { error: { message: /not a proxy/ } });
});

t.test('an Expect other than 100-continue: 417 in the OpenAI shape (Node sends an empty one)', async (t) => {
  const raw = await rawExchange(
    stack.baseUrl,
    'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}',
  );
  t.match(raw, /^HTTP\/1\.1 417 [^]*\r\nx-request-id: req_[0-9a-f]{32}\r\n/i);
  t.match(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)), { error: { code: 'expectation_failed', param: null } });
});

t.test('a body that never ends: 408 client_timeout after REQUEST_RECEIVE_TIMEOUT_MS, socket closed', async (t) => {
  const raw = await new Promise<string>((resolve) => {
    const socket = connect(Number(new URL(stack.baseUrl).port), '127.0.0.1', () =>
      socket.write(
        `POST /v1/chat/completions HTTP/1.1\r\nHost: ${new URL(stack.baseUrl).host}\r\n` +
          'Authorization: Bearer local-only\r\n' +
          'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"model": "testing", "messages": [',
      ),
    );
    // Bounded: without the timeout the gateway would wait for the rest forever.
    const giveUp = setTimeout(() => socket.destroy(), 10_000);
    let text = '';
    socket
      .on('data', (d: Buffer) => {
        text += d.toString('utf8');
      })
      .on('close', () => {
        clearTimeout(giveUp);
        resolve(text);
      })
      .on('error', () => resolve(text));
  });
  t.match(raw, /^HTTP\/1\.1 408 /);
  t.match(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)), { error: { code: 'client_timeout' } });
});

t.test('x-should-retry tells SDKs whether retrying can help', async (t) => {
  const bad = await fetch(`${stack.baseUrl}/v1/chat/completions`, { method: 'POST', headers: AUTH, body: '{' });
  t.equal(bad.headers.get('x-should-retry'), 'false');
  stack.ollama.behave({ failWith: { status: 500, message: 'boom' } });
  const flaky = await fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({ model: 'testing', messages: [{ role: 'user', content: 'x' }] }),
  });
  t.equal(flaky.status, 502);
  t.equal(flaky.headers.get('x-should-retry'), 'true');
  t.equal(flaky.headers.get('retry-after'), '1');
  stack.ollama.behave({});
});

t.test('the SDK raises its typed errors', async (t) => {
  const client = new OpenAI({ baseURL: `${stack.baseUrl}/v1`, apiKey: 'local-only', maxRetries: 0 });
  const failure = (p: Promise<unknown>) =>
    p.then(
      () => undefined,
      (err: unknown) => err,
    );
  const notFound = await failure(
    client.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }),
  );
  t.ok(notFound instanceof OpenAI.NotFoundError, 'unknown model → NotFoundError');
  t.equal((notFound as InstanceType<typeof OpenAI.APIError>).code, 'model_not_found');
  const badRequest = await failure(client.chat.completions.create({ model: 'testing', messages: [] }));
  t.ok(badRequest instanceof OpenAI.BadRequestError, 'invalid body → BadRequestError');
  const wrongKey = new OpenAI({ baseURL: `${stack.baseUrl}/v1`, apiKey: 'wrong', maxRetries: 0 });
  const unauthorized = await failure(
    wrongKey.chat.completions.create({ model: 'testing', messages: [{ role: 'user', content: 'x' }] }),
  );
  t.ok(unauthorized instanceof OpenAI.AuthenticationError, 'wrong key → AuthenticationError');
});

t.test('/v1/models, /v1/models/:id and /health', async (t) => {
  const models: any = await (await fetch(`${stack.baseUrl}/v1/models`, { headers: AUTH })).json();
  t.equal(models.object, 'list');
  t.same(
    models.data.map((m: any) => m.id),
    [
      'bengali_nlp',
      'code_generation',
      'code_review',
      'documentation',
      'testing',
      'deployment',
      'voice_processor',
      'tts-1',
      'tts-1-hd',
      'gpt-4o-mini-tts',
      'whisper-1',
      'gpt-4o-transcribe',
      'gpt-4o-mini-transcribe',
      'auto',
    ],
  );
  t.ok(models.data.every((m: any) => m.object === 'model' && Number.isInteger(m.created) && m.owned_by === 'agentbus'));
  const one: any = await (await fetch(`${stack.baseUrl}/v1/models/code_review`, { headers: AUTH })).json();
  t.equal(one.id, 'code_review');
  const alias: any = await (await fetch(`${stack.baseUrl}/v1/models/tts-1`, { headers: AUTH })).json();
  t.match(alias, { id: 'tts-1', kind: 'speech', alias_of: 'voice_processor', owned_by: 'agentbus' }, 'an alias');
  const listen: any = await (await fetch(`${stack.baseUrl}/v1/models/whisper-1`, { headers: AUTH })).json();
  t.match(listen, { id: 'whisper-1', kind: 'transcription', alias_of: 'voice_processor' }, 'a transcription alias');
  t.equal((await (await fetch(`${stack.baseUrl}/v1/models/auto`, { headers: AUTH })).json()).id, 'auto');
  await expectError(
    t,
    await fetch(`${stack.baseUrl}/v1/models/nope`, { headers: AUTH }),
    404,
    'model_not_found',
    'model',
  );
  // A Hugging Face style id holds a slash: sent as is or encoded, it is looked up, not an unknown URL.
  for (const path of [
    '/v1/models/org/model-7b',
    '/v1/models/org%2Fmodel-7b',
    '/agents/testing/v1/models/org/model-7b',
  ]) {
    const error = await expectError(
      t,
      await fetch(`${stack.baseUrl}${path}`, { headers: AUTH }),
      404,
      'model_not_found',
      'model',
    );
    t.match(error.message, 'The model "org/model-7b"', path);
  }
  const perAgent: any = await (
    await fetch(`${stack.baseUrl}/agents/testing/v1/models/testing`, { headers: AUTH })
  ).json();
  t.equal(perAgent.id, 'testing', 'the per-agent route still finds its agent');
  const health: any = await (await fetch(`${stack.baseUrl}/health`)).json();
  t.same(Object.keys(health), ['status', 'service', 'timestamp']);
  t.match(health, { status: 'healthy', service: 'agentbus-gateway' });
  t.equal(new Date(health.timestamp).toISOString(), health.timestamp, 'ISO 8601 timestamp');
});

t.test('every answer names its request in X-Request-ID, found in the log as reqId', async (t) => {
  const answers: Array<[string, Response]> = [
    ['a bad key', await fetch(`${stack.baseUrl}/v1/models`, { headers: { authorization: 'Bearer nope' } })],
    ['models', await fetch(`${stack.baseUrl}/v1/models`, { headers: AUTH })],
    ['an unknown URL', await fetch(`${stack.baseUrl}/v1/nothing`, { headers: AUTH })],
    ['a schema error', await fetch(url, { method: 'POST', headers: AUTH, body: '{"model": "testing"}' })],
  ];
  for (const [name, res] of answers) {
    await res.arrayBuffer();
    const id = res.headers.get('x-request-id');
    t.match(id, /^req_[0-9a-f]{32}$/, `${name}: OpenAI's form of id`);
    t.ok(
      stack.logs.lines.some((line) => line['reqId'] === id && line['msg'] === 'request completed'),
      `${name}: its log line`,
    );
  }
  // A chat call, once admitted, names itself: its own id replaces the HTTP request's.
  const chat = await fetch(url, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({ model: 'testing', messages: [{ role: 'user', content: 'hi' }] }),
  });
  t.equal(chat.status, 200);
  t.match(chat.headers.get('x-request-id'), /^chatcmpl-/);
  await chat.json();
});
