import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import OpenAI, { toFile } from 'openai';
import t from 'tap';
import { createKey } from '../helpers/keys-cli.js';
import { goForwardWav, HOW_TO_INSTALL_TESTDATA, TESTDATA_DIR, wavOf } from '../helpers/pocketsphinx-testdata.js';
import { exchangeExpectingContinue } from '../helpers/raw-http.js';
import { startStack } from '../helpers/stack.js';
import { traceLine } from '../helpers/trace-lines.js';
import { waitFor } from '../helpers/wait.js';

// POST /v1/audio/transcriptions end to end: gateway → NATS (agents.voice_processor.transcribe,
// then the audio in frames to the worker's inbox) → worker → the real pocketsphinx, with keys from
// the real CLI and Debian's recording of "go forward ten meters". Quality: transcription-quality.test.ts.
if (!existsSync(TESTDATA_DIR))
  throw new Error(`no pocketsphinx test data at ${TESTDATA_DIR}. ${HOW_TO_INSTALL_TESTDATA}`);
const dir = mkdtempSync(join(tmpdir(), 'agentbus-transcribe-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const keysFile = join(dir, 'keys.json');
const tiersFile = join(dir, 'rate-tiers.json');
writeFileSync(
  tiersFile,
  JSON.stringify({ tiers: { standard: { requests_per_minute: 2 }, premium: {}, unlimited: {} } }),
);
const full = await createKey(keysFile, ['--name', 'listener', '--tier', 'unlimited']);
const scoped = await createKey(keysFile, ['--name', 'reviewer', '--agents', 'code_review', '--tier', 'unlimited']);
const limited = await createKey(keysFile, ['--name', 'limited', '--tier', 'standard']);
const MAX_UPLOAD = 2 * 1024 * 1024;
const stack = await startStack({
  env: { KEYS_FILE: keysFile, RATE_TIERS_FILE: tiersFile, MAX_AUDIO_UPLOAD_BYTES: String(MAX_UPLOAD) },
});
t.teardown(() => stack.close());
const wav = goForwardWav();

const form = (fields: Record<string, string>, file: Buffer | null = wav, name = 'speech.wav') => {
  const body = new FormData();
  if (file) body.append('file', new Blob([new Uint8Array(file)]), name);
  for (const [key, value] of Object.entries(fields)) body.append(key, value);
  return body;
};
const transcribe = (fields: Record<string, string>, file?: Buffer, key = full, path = '/v1/audio/transcriptions') =>
  fetch(`${stack.baseUrl}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}` },
    body: form({ model: 'whisper-1', ...fields }, file),
  });
const errorOf = async (res: Response) =>
  ((await res.json()) as { error: { code: string; message: string; param: string | null } }).error;

t.test('a WAV of "go forward ten meters" comes back as its text', async (t) => {
  const res = await transcribe({});
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /^application\/json/);
  t.equal(res.headers.get('x-agentbus-provider'), 'pocketsphinx');
  const body = (await res.json()) as { text: string; usage: { type: string; seconds: number } };
  t.equal(body.text, 'go forward ten meters');
  t.same(body.usage, { type: 'duration', seconds: 3 });
  const line = await traceLine(stack.config.logDir, 'voice_processor', res.headers.get('x-request-id')!);
  t.match(line, { status: 200, model: 'pocketsphinx:en', response_len: body.text.length, prompt: /^\[audio wav/ });
});

t.test("the openai SDK's audio.transcriptions.create, in each response_format", async (t) => {
  const client = new OpenAI({ baseURL: `${stack.baseUrl}/v1`, apiKey: full, maxRetries: 0 });
  const file = () => toFile(wav, 'goforward.wav');
  const json = await client.audio.transcriptions.create({ model: 'whisper-1', file: await file() });
  t.equal(json.text, 'go forward ten meters');
  const text = await client.audio.transcriptions.create({
    model: 'gpt-4o-transcribe',
    file: await file(),
    response_format: 'text',
    language: 'en',
    temperature: 0.2,
  });
  t.equal(text, 'go forward ten meters\n');
  const verbose = await client.audio.transcriptions.create({
    model: 'voice_processor',
    file: await file(),
    response_format: 'verbose_json',
    timestamp_granularities: ['word', 'segment'],
  });
  t.match(verbose, { task: 'transcribe', language: 'english', text: 'go forward ten meters' });
  t.ok(verbose.duration > 2.5 && verbose.duration < 3, `the clip's length (${verbose.duration} s)`);
  t.equal(verbose.segments?.length, 1);
  t.match(verbose.segments?.[0], { id: 0, text: 'go forward ten meters' });
  t.same(
    verbose.words?.map((w) => w.word),
    ['go', 'forward', 'ten', 'meters'],
  );
  const [go, forward] = verbose.words!;
  t.ok(go!.start < go!.end && go!.end <= forward!.start, 'words in order, with times');
  const srt = await client.audio.transcriptions.create({
    model: 'whisper-1',
    file: await file(),
    response_format: 'srt',
  });
  t.match(srt, /^1\n00:00:00,\d{3} --> 00:00:0\d,\d{3}\ngo forward ten meters\n\n$/);
  const vtt = await client.audio.transcriptions.create({
    model: 'gpt-4o-mini-transcribe',
    file: await file(),
    response_format: 'vtt',
  });
  t.match(vtt, /^WEBVTT\n\n00:00:00\.\d{3} --> 00:00:0\d\.\d{3}\ngo forward ten meters\n\n$/);
  // gpt-4o-transcribe's event stream, as the SDK reads it: a 400 before it was served.
  const stream = await client.audio.transcriptions.create({
    model: 'gpt-4o-transcribe',
    file: await file(),
    stream: true,
  });
  const events: unknown[] = [];
  for await (const event of stream) events.push(event);
  t.same(events, [
    { type: 'transcript.text.delta', delta: 'go forward ten meters' },
    { type: 'transcript.text.done', text: 'go forward ten meters' },
  ]);
});

t.test("the openai SDK's audio.translations.create: pocketsphinx's English is the translation", async (t) => {
  const client = new OpenAI({ baseURL: `${stack.baseUrl}/v1`, apiKey: full, maxRetries: 0 });
  const json = await client.audio.translations.create({ model: 'whisper-1', file: await toFile(wav, 'a.wav') });
  t.equal(json.text, 'go forward ten meters');
  const verbose = await client.audio.translations.create({
    model: 'whisper-1',
    file: await toFile(wav, 'a.wav'),
    response_format: 'verbose_json',
  });
  t.match(verbose, { task: 'translate', language: 'english', text: 'go forward ten meters' });
});

t.test("the voice agent's own base URL needs no model", async (t) => {
  const body = new FormData();
  body.append('file', new Blob([new Uint8Array(wav)]), 'a.wav');
  const res = await fetch(`${stack.baseUrl}/agents/voice_processor/v1/audio/transcriptions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${full}` },
    body,
  });
  t.equal(res.status, 200);
  t.equal(((await res.json()) as { text: string }).text, 'go forward ten meters');
});

t.test('refused clearly, in the OpenAI error shape', async (t) => {
  const cases: Array<[string, Promise<Response>, number, Record<string, unknown>]> = [
    ['no file', transcribe({}, Buffer.alloc(0)), 400, { code: 'audio_file_invalid', param: 'file' }],
    ['missing file', fetchForm(form({ model: 'whisper-1' }, null)), 400, { param: 'file' }],
    ['not audio', transcribe({}, Buffer.from('{"hello": "world"}\n'.repeat(50))), 400, { code: 'audio_file_invalid' }],
    // Its header and 6 bytes of sound: heard as silence it would read as "nobody spoke".
    ['cut after its header', transcribe({}, wav.subarray(0, 50)), 400, { code: 'audio_too_short', param: 'file' }],
    ['oversize', transcribe({}, Buffer.concat([wav, Buffer.alloc(MAX_UPLOAD)])), 413, { code: 'audio_file_too_large' }],
    ['unknown model', transcribe({ model: 'whisper-9' }), 404, { code: 'model_not_found', message: /whisper-1/ }],
    ['a chat agent', transcribe({ model: 'code_review' }), 400, { param: 'model', message: /does not transcribe/ }],
    ['prompt', transcribe({ prompt: 'robots' }), 400, { param: 'prompt' }],
    ['router', transcribe({ model: 'auto' }), 400, { param: 'model', message: /lets the router choose/ }],
    ['chunking', transcribe({ chunking_strategy: 'auto' }), 400, { param: 'chunking_strategy' }],
    // An object, as the SDKs put it in a form: refused by its name too, not as an unknown field.
    [
      'chunking as the SDKs send an object',
      transcribe({ 'chunking_strategy[type]': 'server_vad', 'chunking_strategy[threshold]': '0.5' }),
      400,
      { param: 'chunking_strategy', message: /heard as one stream/ },
    ],
    ['include', transcribe({ include: 'logprobs' }), 400, { param: 'include', message: /log-probabilities/ }],
    ['include[]', transcribe({ 'include[]': 'logprobs' }), 400, { param: 'include' }],
    ['language', transcribe({ language: 'fr' }), 400, { param: 'language', message: /US English/ }],
    ['temperature', transcribe({ temperature: '7' }), 400, { param: 'temperature' }],
    ['not a number', transcribe({ temperature: 'abc' }), 400, { param: 'temperature', message: /number from 0 to 1/ }],
    ['stream', transcribe({ stream: 'yes' }), 400, { param: 'stream' }],
    ['stream srt', transcribe({ stream: 'true', response_format: 'srt' }), 400, { param: 'stream' }],
    ['format', transcribe({ response_format: 'xml' }), 400, { param: 'response_format' }],
    ['unknown field', transcribe({ speaker: 'me' }), 400, { param: 'speaker' }],
    ['bad key', transcribe({}, wav, 'sk-not-a-key'), 401, { code: 'invalid_api_key' }],
    ['out of scope', transcribe({}, wav, scoped), 403, { code: 'agent_not_allowed' }],
    [
      'translations: no language',
      transcribe({ language: 'en' }, wav, full, '/v1/audio/translations'),
      400,
      {
        param: 'language',
      },
    ],
  ];
  for (const [name, pending, status, error] of cases) {
    const res = await pending;
    t.equal(res.status, status, name);
    t.match(await errorOf(res), error, name);
  }
  const json = await fetch(`${stack.baseUrl}/v1/audio/transcriptions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${full}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'whisper-1', file: 'hello' }),
  });
  t.match([json.status, (await errorOf(json)).param], [400, 'file'], 'a JSON body has no file upload');
  const empty = await fetch(`${stack.baseUrl}/v1/audio/transcriptions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${full}` },
  });
  t.match([empty.status, (await errorOf(empty)).message], [415, /multipart\/form-data/], 'no body, no type');
  const malformed: Array<[string, string, number, RegExp]> = [
    ['a form without a boundary', 'multipart/form-data', 400, /malformed/],
    ['a form cut short', 'multipart/form-data; boundary=x', 400, /malformed/],
    ['not a form', 'application/x-www-form-urlencoded', 415, /multipart\/form-data/],
    // busboy throws on a boundary over 256 characters: a 500 before it was named.
    ['a boundary too long', `multipart/form-data; boundary=${'a'.repeat(253)}`, 400, /boundary is too long/],
  ];
  for (const [name, type, status, message] of malformed) {
    const res = await fetch(`${stack.baseUrl}/v1/audio/transcriptions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${full}`, 'content-type': type },
      body: '--x\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nRIFF',
    });
    t.equal(res.status, status, name);
    t.match((await errorOf(res)).message, message, name);
  }
});

t.test('a body declared far over the limit is refused before it is sent, not after', async (t) => {
  // Only the form's head is sent: the 413 must come without the rest.
  const head = '--x\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nRIFF';
  const modelPart = 'Content-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n';
  const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(`${stack.baseUrl}/v1/audio/transcriptions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${full}`,
        'content-type': 'multipart/form-data; boundary=x',
        'content-length': String(MAX_UPLOAD + 100 * 1024 * 1024),
      },
    });
    const timer = setTimeout(() => reject(new Error('no answer while the body was still to come')), 5000);
    req.on('error', reject);
    req.on('response', (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.write(head);
  });
  t.equal(answer.status, 413);
  t.match(JSON.parse(answer.body), { error: { code: 'audio_file_too_large' } });
  // The SDK (undici) sends its whole body before it reads: it sees the 413, not a reset connection. From a
  // process of its own: in this one the client's writes and the gateway's reads take turns, and none is lost.
  const sdkUpload = [
    "import OpenAI, { toFile } from 'openai';",
    `const client = new OpenAI({ baseURL: '${stack.baseUrl}/v1', apiKey: '${full}', maxRetries: 0 });`,
    "const file = await toFile(Buffer.alloc(40 * 1024 * 1024, 1), 'a.wav');",
    "const e = await client.audio.transcriptions.create({ model: 'whisper-1', file }).catch((e) => e);",
    'console.log(JSON.stringify({ status: e.status, code: e.code, name: e.constructor.name }));',
  ].join('\n');
  const child = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', sdkUpload], {
    timeout: 30_000,
  });
  t.match(
    JSON.parse(child.stdout),
    { status: 413, code: 'audio_file_too_large' },
    'an APIError 413, not a connection error',
  );
  // A chunked upload declares no length: it is read, and heard, as before.
  const chunked = await fetch(`${stack.baseUrl}/v1/audio/transcriptions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${full}`, 'content-type': 'multipart/form-data; boundary=x' },
    body: new Blob([head.replace('RIFF', ''), new Uint8Array(wav), '\r\n--x\r\n', modelPart, '--x--\r\n']).stream(),
    duplex: 'half',
  } as RequestInit);
  t.equal(chunked.status, 200, 'a chunked upload within the limit');
  t.equal(((await chunked.json()) as { text: string }).text, 'go forward ten meters');
});

t.test('a chunked body over the limit is refused once past it, not once read whole', async (t) => {
  // A chunked upload declares no length: it must be refused while most of it is still to send.
  // This client stops once answered and ends its body (the gateway drops what it still reads).
  const total = 64 * 1024 * 1024;
  const chunk = (data: Buffer) =>
    Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from('\r\n')]);
  const slice = chunk(Buffer.alloc(64 * 1024, 'a'));
  const asked: string[] = [];
  const watch = stack.bus.subscribe(`${stack.config.subjectPrefix}.*.transcribe`, {
    callback: (_err, msg) => asked.push(msg.subject),
  });
  t.teardown(() => watch.unsubscribe());
  const from = stack.logs.lines.length;
  const { host, port } = new URL(stack.baseUrl);
  const accepted = new Promise<Socket>((resolve) => stack.app.server.once('connection', resolve));
  const socket = connect(Number(port), '127.0.0.1');
  let answer = '';
  socket.on('data', (data: Buffer) => (answer += data.toString()));
  socket.on('error', () => undefined);
  const closed = new Promise((resolve) => socket.once('close', resolve));
  socket.write(
    `POST /v1/audio/transcriptions HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${full}\r\n` +
      'Content-Type: multipart/form-data; boundary=x\r\nTransfer-Encoding: chunked\r\n\r\n',
  );
  socket.write(chunk(Buffer.from('--x\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n')));
  // Bounded: at most `total` bytes, each write waiting for room, until the answer comes.
  let sent = 0;
  while (sent < total && answer === '' && !socket.destroyed) {
    sent += 64 * 1024;
    if (!socket.write(slice)) await Promise.race([new Promise((resolve) => socket.once('drain', resolve)), closed]);
  }
  const form = '\r\n--x\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n--x--\r\n';
  if (!socket.destroyed) socket.end(Buffer.concat([chunk(Buffer.from(form)), Buffer.from('0\r\n\r\n')]));
  await closed;
  const server = await accepted;
  t.ok(server.bytesRead < total / 2, `the server read ${server.bytesRead} of the ${total} bytes`);
  t.ok(sent < total, `answered after ${sent} bytes`);
  const mine = stack.logs.lines.slice(from);
  t.match(
    mine.find((l) => l['msg'] === 'request completed'),
    { res: { statusCode: 413 } },
  );
  t.ok(
    mine.some((l) => l['code'] === 'audio_file_too_large'),
    'answered audio_file_too_large',
  );
  t.match(answer, /^HTTP\/1\.1 413 [^]*"code":"audio_file_too_large"/, 'the answer read');
  await stack.bus.flush();
  t.same(asked, [], 'no worker asked');
});

t.test('a Node client streaming a chunked body over the limit reads the 413', async (t) => {
  // fetch (undici) sends its whole body before it reads: on a connection closed under unread data it saw
  // only EPIPE or ECONNRESET. From a process of its own, as the SDK test above, so its writes race the
  // gateway's reads as they would. 8 MiB past the largest form (the limit and 4 MiB for the other parts).
  const head = '--x\\r\\nContent-Disposition: form-data; name="file"; filename="a.wav"\\r\\n\\r\\nRIFF';
  const slices = (MAX_UPLOAD + 12 * 1024 * 1024) / (64 * 1024);
  const upload = [
    "import { request } from 'node:http';",
    "import { Readable } from 'node:stream';",
    `const url = '${stack.baseUrl}/v1/audio/transcriptions';`,
    `const headers = { authorization: 'Bearer ${full}', 'content-type': 'multipart/form-data; boundary=x' };`,
    `const body = () => Readable.from((function* () { yield Buffer.from('${head}');`,
    `  for (let i = 0; i < ${slices}; i++) yield Buffer.alloc(64 * 1024, 1); })());`,
    'const failed = (e) => ({ error: e.cause?.code ?? e.code ?? e.message });',
    "const viaFetch = await fetch(url, { method: 'POST', headers, body: body(), duplex: 'half' })",
    '  .then(async (res) => ({ status: res.status, body: await res.json() }), failed);',
    // node:http reads the answer as it comes, then waits with the rest unsent: it gives up once answered.
    'const viaHttp = await new Promise((resolve) => {',
    "  const req = request(url, { method: 'POST', headers }, (res) => {",
    "    let text = ''; res.on('data', (c) => (text += c));",
    "    res.on('end', () => { resolve({ status: res.statusCode, body: JSON.parse(text) }); req.destroy(); });",
    '  });',
    "  req.on('error', (e) => resolve(failed(e)));",
    '  body().pipe(req);',
    '});',
    'console.log(JSON.stringify({ viaFetch, viaHttp }));',
  ].join('\n');
  const child = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', upload], {
    timeout: 30_000,
  });
  const answers = JSON.parse(child.stdout) as Record<string, unknown>;
  const refused = { status: 413, body: { error: { code: 'audio_file_too_large' } } };
  t.match(answers['viaFetch'], refused, 'fetch reads the 413, not a reset connection');
  t.match(answers['viaHttp'], refused, 'node:http reads the 413, not a reset connection');
});

t.test('an upload over BODY_LIMIT_BYTES (JSON) but within the audio limit gets its 100 Continue', async (t) => {
  // curl sends Expect: 100-continue with a form over 1 MiB: the form is read by @fastify/multipart under
  // MAX_AUDIO_UPLOAD_BYTES, not fastify's bodyLimit, so the 100 must come (a client may wait for it).
  const body = Buffer.concat([
    Buffer.from('--x\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'),
    Buffer.from('--x\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\n'),
    Buffer.alloc(1536 * 1024, 'not audio '),
    Buffer.from('\r\n--x--\r\n'),
  ]);
  const { host } = new URL(stack.baseUrl);
  const answer = await exchangeExpectingContinue(
    stack.baseUrl,
    `POST /v1/audio/transcriptions HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${full}\r\n` +
      `Content-Type: multipart/form-data; boundary=x\r\nContent-Length: ${body.length}\r\n` +
      'Expect: 100-continue\r\nConnection: close\r\n\r\n',
    body,
  );
  t.ok(answer.bodySent, '100 Continue, then the form');
  t.match(answer.text, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 400 /, 'read and heard: not audio');
  t.match(answer.text, /"code":"audio_file_invalid"/);
});

t.test("the key's rate limit applies", async (t) => {
  // The worker's refusal (too little sound to hear) came after the model was asked: it spent a
  // request, and carries the request's id and what is left, as a chat's error does.
  const refused = await transcribe({}, wav.subarray(0, 50), limited);
  t.equal(refused.status, 400);
  t.match(refused.headers.get('x-request-id'), /^transcribe-/);
  t.equal(refused.headers.get('x-ratelimit-remaining-requests'), '1');
  await refused.arrayBuffer();
  const statuses: number[] = [];
  for (let i = 0; i < 2; i++) {
    const res = await transcribe({}, wav, limited);
    statuses.push(res.status);
    await res.arrayBuffer();
  }
  t.same(statuses, [200, 429]);
});

t.test('a client that leaves stops pocketsphinx on the worker', async (t) => {
  // Two minutes of "go forward ten meters", declared 8 kHz so ffmpeg resamples it too: long work.
  const pcm = readFileSync(join(TESTDATA_DIR, 'goforward.raw'));
  const long = wavOf(Buffer.concat(Array.from({ length: 20 }, () => pcm)), 8_000);
  const left = new AbortController();
  const pending = fetch(`${stack.baseUrl}/v1/audio/transcriptions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${full}` },
    body: form({ model: 'whisper-1' }, long),
    signal: left.signal,
  }).catch((err: unknown) => err);
  const started = () => stack.logs.lines.find((l) => l['msg'] === 'transcribing' && l['bytes'] === long.length);
  await waitFor('the worker to start transcribing', () => started() !== undefined);
  left.abort();
  t.ok((await pending) instanceof Error, 'the client gave up');
  const requestId = started()!['requestId'];
  await waitFor('the cancel to reach the worker', () =>
    stack.logs.lines.some((l) => l['requestId'] === requestId && l['code'] === 'request_cancelled'),
  );
  const children = spawnSync('pgrep', ['-P', String(process.pid), 'pocketsphinx|ffmpeg'])
    .stdout.toString()
    .trim();
  t.equal(children, '', 'no engine process left');
});

function fetchForm(body: FormData) {
  return fetch(`${stack.baseUrl}/v1/audio/transcriptions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${full}` },
    body,
  });
}
