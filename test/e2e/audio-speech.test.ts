import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import t from 'tap';
import { subjectsFor } from '../../bus-schemas/index.js';
import { createKey } from '../helpers/keys-cli.js';
import { startStack } from '../helpers/stack.js';
import { traceLine } from '../helpers/trace-lines.js';
import { waitFor } from '../helpers/wait.js';

// POST /v1/audio/speech end to end: gateway → NATS (agents.voice_processor.speech) → worker →
// the real espeak-ng, with keys from the real CLI. FFMPEG_PATH names no binary, so every format
// but wav must be refused by name; one test starts a second stack with Debian's ffmpeg for aac.
const dir = mkdtempSync(join(tmpdir(), 'agentbus-speech-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const keysFile = join(dir, 'keys.json');
const tiersFile = join(dir, 'rate-tiers.json');
writeFileSync(
  tiersFile,
  JSON.stringify({ tiers: { standard: { requests_per_minute: 2 }, premium: {}, unlimited: {} } }),
);
const full = await createKey(keysFile, ['--name', 'speaker', '--tier', 'unlimited']);
const scoped = await createKey(keysFile, ['--name', 'reviewer', '--agents', 'code_review', '--tier', 'unlimited']);
const limited = await createKey(keysFile, ['--name', 'limited', '--tier', 'standard']);
const stack = await startStack({
  env: { KEYS_FILE: keysFile, RATE_TIERS_FILE: tiersFile, FFMPEG_PATH: join(dir, 'no-ffmpeg') },
});
t.teardown(() => stack.close());

const speak = (body: Record<string, unknown>, key = full, signal?: AbortSignal) =>
  fetch(`${stack.baseUrl}/v1/audio/speech`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'tts-1', voice: 'alloy', response_format: 'wav', ...body }),
    ...(signal ? { signal } : {}),
  });
/** Seconds and RMS (of full scale 32768) of a 16-bit mono WAV: is there speech in it, not silence? */
const soundOf = (wav: Buffer) => {
  const rate = wav.readUInt32LE(24);
  const samples = (wav.length - 44) / 2;
  let sum = 0;
  for (let i = 44; i + 1 < wav.length; i += 2) sum += wav.readInt16LE(i) ** 2;
  return { seconds: samples / rate, rms: Math.sqrt(sum / samples) };
};
const errorOf = async (res: Response) =>
  ((await res.json()) as { error: { code: string; message: string; param: string | null } }).error;

t.test('English text comes back as a WAV of espeak-ng speech', async (t) => {
  const res = await speak({ input: 'Convert to speech: Hello world' });
  t.equal(res.status, 200);
  t.equal(res.headers.get('content-type'), 'audio/wav');
  t.match(res.headers.get('x-agentbus-voice'), /^en-us\+f3$/);
  const wav = Buffer.from(await res.arrayBuffer());
  t.equal(wav.toString('latin1', 0, 4), 'RIFF');
  t.equal(wav.toString('latin1', 8, 12), 'WAVE');
  t.equal(wav.readUInt32LE(24), 22050, "espeak-ng's sample rate");
  t.equal(wav.readUInt32LE(40), wav.length - 44, 'the real data size, not the pipe placeholder');
  t.ok(wav.length > 22050, `about a second of 16-bit audio or more (${wav.length} bytes)`);
  const sound = soundOf(wav);
  t.ok(sound.seconds > 0.8 && sound.seconds < 6, `a phrase's length: ${sound.seconds.toFixed(2)} s`);
  t.ok(sound.rms > 500 && sound.rms < 20_000, `speech, not silence nor clipping: RMS ${sound.rms.toFixed(0)}`);
  const line = await traceLine(stack.config.logDir, 'voice_processor', res.headers.get('x-request-id')!);
  t.match(line, { status: 200, model: 'espeak-ng:en-us+f3', response_len: wav.length });
});

t.test('Bengali text picks the Bengali voice by itself', async (t) => {
  const res = await speak({ input: 'বাংলায় টেক্সট-টু-স্পিচ তৈরি করো', voice: 'echo' });
  t.equal(res.status, 200);
  t.equal(res.headers.get('x-agentbus-voice'), 'bn+m3');
  const sound = soundOf(Buffer.from(await res.arrayBuffer()));
  t.ok(sound.seconds > 0.8 && sound.seconds < 10, `a phrase's length: ${sound.seconds.toFixed(2)} s`);
  t.ok(sound.rms > 500 && sound.rms < 20_000, `speech, not silence nor clipping: RMS ${sound.rms.toFixed(0)}`);
  const line = stack.logs.lines.find((l) => l['msg'] === 'speaking' && String(l['espeak']).includes(' -v bn+m3 '));
  t.ok(line, 'the worker ran espeak-ng with -v bn+m3');
});

t.test("the openai SDK's audio.speech.create", async (t) => {
  const client = new OpenAI({ baseURL: `${stack.baseUrl}/v1`, apiKey: full, maxRetries: 0 });
  const res = await client.audio.speech.create({
    model: 'voice_processor',
    voice: 'nova',
    input: 'Hello from the SDK',
    response_format: 'wav',
    speed: 1.5,
  });
  const wav = Buffer.from(await res.arrayBuffer());
  t.equal(wav.toString('latin1', 0, 4), 'RIFF');
  const line = stack.logs.lines.findLast((l) => l['msg'] === 'speaking');
  t.match(String(line?.['espeak']), / -s 263$/, 'speed 1.5 → 263 words per minute');
  // The TypeScript SDK's streaming form (Python's with_streaming_response): the raw Response, read as it comes.
  const raw = await client.audio.speech
    .create({ model: 'tts-1-hd', voice: 'shimmer', input: 'Streamed by the SDK', response_format: 'wav' })
    .asResponse();
  let streamedBytes = 0;
  const reader = raw.body!.getReader();
  for (let read = await reader.read(); !read.done; read = await reader.read()) streamedBytes += read.value.length;
  t.ok(streamedBytes > 10_000, `the SDK read the audio as a stream (${streamedBytes} bytes)`);
});

t.test('streamed with stream_format "audio": chunked, a WAV header first', async (t) => {
  const res = await speak({ input: 'Streaming speech, chunk by chunk.', stream_format: 'audio' });
  t.equal(res.status, 200);
  t.equal(res.headers.get('transfer-encoding'), 'chunked');
  const wav = Buffer.from(await res.arrayBuffer());
  t.equal(wav.toString('latin1', 0, 4), 'RIFF');
});

t.test('streamed: the first audio reaches the client while espeak-ng still speaks the rest', async (t) => {
  const long = 'A long text takes the engine a while, and the client hears it from the start. '.repeat(50);
  const res = await speak({ input: long, stream_format: 'audio' });
  const reader = res.body!.getReader();
  t.ok((await reader.read()).value!.length > 0, 'the first chunk arrived');
  // The in-process worker's espeak-ng is this process's child: still running, so still synthesising.
  t.equal(spawnSync('pgrep', ['-P', String(process.pid), 'espeak-ng']).status, 0, 'espeak-ng is still at work');
  let bytes = 0;
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) bytes += chunk.value.length;
  t.ok(bytes > 22050 * 2 * 10, `the rest followed: ${bytes} more bytes (over 10 s of audio)`);
});

t.test("the openai SDK asks for aac: an ADTS stream from Debian's ffmpeg, as OpenAI's", async (t) => {
  // This file's stack has no ffmpeg: a stack of its own, with the default FFMPEG_PATH.
  const encoding = await startStack({ workerAgents: ['voice_processor'] });
  t.teardown(() => encoding.close());
  const client = new OpenAI({ baseURL: `${encoding.baseUrl}/v1`, apiKey: 'local-only', maxRetries: 0 });
  const res = await client.audio.speech
    .create({ model: 'tts-1', voice: 'alloy', input: 'Hello in AAC', response_format: 'aac' })
    .asResponse();
  t.equal(res.status, 200);
  t.equal(res.headers.get('content-type'), 'audio/aac');
  const aac = Buffer.from(await res.arrayBuffer());
  t.ok(aac[0] === 0xff && (aac[1]! & 0xf0) === 0xf0, 'an ADTS header first: 12 bits of syncword 0xFFF');
  t.equal(aac[1]! & 0x06, 0, 'layer 0, as ADTS has');
  const probe = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name', '-of', 'csv=p=0', '-'], {
    input: aac,
  });
  t.equal(probe.stdout.toString().trim(), 'aac', 'ffprobe reads it as AAC');
  // stream_format "sse" relays the same encoding, in base64 deltas.
  const sse = await fetch(`${encoding.baseUrl}/v1/audio/speech`, {
    method: 'POST',
    headers: { authorization: 'Bearer local-only', 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'tts-1', voice: 'alloy', input: 'Hi', response_format: 'aac', stream_format: 'sse' }),
  });
  const deltas = (await sse.text())
    .split('\n\n')
    .filter((event) => event.startsWith('data: '))
    .map((event) => JSON.parse(event.slice(6)) as { type: string; audio?: string })
    .filter((event) => event.type === 'speech.audio.delta');
  const joined = Buffer.concat(deltas.map((event) => Buffer.from(event.audio!, 'base64')));
  t.ok(joined[0] === 0xff && (joined[1]! & 0xf0) === 0xf0, 'the deltas joined are ADTS too');
});

t.test("the OpenAI SDK's own timeout limits a whole file, not a stream it reads on without one", async (t) => {
  // X-Stainless-Timeout holds the SDK only until the headers, which a stream sends with its first chunk.
  const limits: number[] = [];
  const seen = stack.bus.subscribe(subjectsFor(stack.config.subjectPrefix).speech('voice_processor'), {
    callback: (_err, msg) =>
      limits.push((JSON.parse(Buffer.from(msg.data).toString()) as { timeout_ms: number }).timeout_ms),
  });
  t.teardown(() => seen.unsubscribe());
  const sdk = (stream_format?: string) =>
    fetch(`${stack.baseUrl}/v1/audio/speech`, {
      method: 'POST',
      headers: { authorization: `Bearer ${full}`, 'content-type': 'application/json', 'x-stainless-timeout': '2' },
      body: JSON.stringify({ model: 'tts-1', voice: 'alloy', response_format: 'wav', input: 'hi', stream_format }),
    });
  for (const res of [await sdk(), await sdk('audio')]) {
    t.equal(res.status, 200);
    await res.arrayBuffer();
  }
  await stack.bus.flush();
  t.equal(limits[0], 2000, "the whole file: within the SDK's wait");
  t.ok(limits[1]! > 2000, `the stream: the agent's own limit (${limits[1]} ms)`);
});

t.test('stream_format "sse": OpenAI\'s delta events, then done with usage', async (t) => {
  const res = await speak({ input: 'Events of speech', stream_format: 'sse' });
  t.equal(res.status, 200);
  t.match(res.headers.get('content-type'), /^text\/event-stream/);
  const events = (await res.text())
    .split('\n\n')
    .filter(Boolean)
    .map((block) => JSON.parse(block.replace(/^data: /, '')) as { type: string; audio?: string; usage?: object });
  const deltas = events.filter((e) => e.type === 'speech.audio.delta');
  t.ok(deltas.length > 0);
  const wav = Buffer.concat(deltas.map((e) => Buffer.from(e.audio!, 'base64')));
  t.equal(wav.toString('latin1', 0, 4), 'RIFF');
  t.match(events.at(-1), { type: 'speech.audio.done', usage: { input_tokens: 4, output_tokens: 0 } });
});

t.test("the voice agent's own base URL: no model needed; a chat agent's does not speak", async (t) => {
  const url = (agent: string) => `${stack.baseUrl}/agents/${agent}/v1/audio/speech`;
  const init = (body: object) => ({
    method: 'POST',
    headers: { authorization: `Bearer ${full}`, 'content-type': 'application/json' },
    body: JSON.stringify({ voice: 'alloy', response_format: 'wav', ...body }),
  });
  const res = await fetch(url('voice_processor'), init({ input: 'By path' }));
  t.equal(res.status, 200);
  t.equal(Buffer.from(await res.arrayBuffer()).toString('latin1', 0, 4), 'RIFF');
  const chat = await fetch(url('code_review'), init({ input: 'By path' }));
  t.equal(chat.status, 400);
  t.match(await errorOf(chat), { param: 'model', message: /"code_review" does not speak/ });
});

t.test('refused clearly: no encoder, unknown model, unknown voice, bad key, out of scope', async (t) => {
  let res = await speak({ input: 'hi', response_format: 'mp3' });
  t.equal(res.status, 400);
  const format = await errorOf(res);
  t.equal(format.code, 'audio_format_unavailable');
  t.match(format.message, /mp3.*ffmpeg.*Available: wav/);
  res = await speak({ input: 'hi', response_format: 'aac' });
  t.equal(res.status, 400);
  t.match(await errorOf(res), {
    code: 'audio_format_unavailable',
    param: 'response_format',
    message: /"aac" needs ffmpeg.*apt-get install ffmpeg.*Available: wav/,
  });
  res = await speak({ input: 'hi', model: 'tts-9' });
  t.equal(res.status, 404);
  t.match(await errorOf(res), { code: 'model_not_found', message: /tts-1/ });
  res = await speak({ input: 'hi', voice: 'robot' });
  t.equal(res.status, 400);
  t.match(await errorOf(res), { code: 'invalid_request', message: /Unknown voice "robot"/ });
  for (const input of ['', '   ', '\u0000\u0001 \u007f', 'x'.repeat(4097)]) {
    res = await speak({ input });
    t.equal(res.status, 400, `input of ${input.length} characters`);
    t.match(await errorOf(res), { code: 'invalid_request', param: 'input' });
  }
  res = await speak({ input: 'hi', instructions: 'whisper' });
  t.match([res.status, (await errorOf(res)).param], [400, 'instructions']);
  res = await speak({ input: 'hi', instructions: ' ' });
  t.equal(res.status, 200, 'empty instructions ask for nothing: spoken');
  await res.arrayBuffer();
  res = await speak({ input: 'hi', speed: null, stream_format: null, instructions: null });
  t.equal(res.status, 200, 'null is "not given" (Python\'s None), as on chat and embeddings');
  t.ok(res.headers.get('content-length'), 'stream_format null: the whole file');
  await res.arrayBuffer();
  res = await speak({ input: 'hi', response_format: null });
  t.match(await errorOf(res), { code: 'audio_format_unavailable' }, 'response_format null: the default mp3');
  res = await speak({ input: 'hi' }, 'sk-not-a-key');
  t.equal(res.status, 401);
  res = await speak({ input: 'hi' }, scoped);
  t.equal(res.status, 403);
  t.equal((await errorOf(res)).code, 'agent_not_allowed');
});

t.test("the key's rate limit applies", async (t) => {
  // The worker's refusal (no encoder for mp3) came after the model was asked: it spent a request,
  // and carries the request's id and what is left, as a chat's error does.
  const refused = await speak({ input: 'one', response_format: 'mp3' }, limited);
  t.equal(refused.status, 400);
  t.match(refused.headers.get('x-request-id'), /^speech-/);
  t.equal(refused.headers.get('x-ratelimit-remaining-requests'), '1');
  await refused.arrayBuffer();
  const two = await speak({ input: 'two' }, limited);
  t.equal(two.status, 200);
  t.equal(two.headers.get('x-ratelimit-remaining-requests'), '0');
  await two.arrayBuffer();
  const third = await speak({ input: 'three' }, limited);
  t.equal(third.status, 429);
  t.equal((await errorOf(third)).code, 'rate_limit_exceeded');
});

t.test('a client that disconnects cancels the synthesis on the worker', async (t) => {
  const long = 'This sentence is long enough to keep the engine busy for a while. '.repeat(60);
  const left = new AbortController();
  const res = await speak({ input: long, stream_format: 'audio' }, full, left.signal);
  const reader = res.body!.getReader();
  t.ok((await reader.read()).value!.length > 0, 'the first audio arrived');
  left.abort();
  await waitFor('the worker to stop with request_cancelled', () =>
    stack.logs.lines.some((l) => l['code'] === 'request_cancelled'),
  );
  // The in-process worker's espeak-ng is this process's child: killed, not left to finish.
  await waitFor('espeak-ng to exit', () => spawnSync('pgrep', ['-P', String(process.pid), 'espeak-ng']).status === 1);
  const line = await traceLine(stack.config.logDir, 'voice_processor', res.headers.get('x-request-id')!);
  t.match(line, { status: 499, error: 'request_cancelled' });
});

t.test(
  'a spoken chat answer in a format the worker cannot encode: 400 naming audio.format, nothing stored',
  async (t) => {
    const res = await fetch(`${stack.baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${full}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'testing',
        modalities: ['text', 'audio'],
        audio: { voice: 'alloy', format: 'mp3' },
        messages: [{ role: 'user', content: 'Say hi' }],
      }),
    });
    t.equal(res.status, 400);
    t.match(await errorOf(res), { code: 'audio_format_unavailable', param: 'audio.format', message: /ffmpeg/ });
    const id = res.headers.get('x-request-id')!;
    t.match(id, /^chatcmpl-/);
    const turns = await stack.db.selectFrom('turns').selectAll().where('request_id', '=', id).execute();
    t.same(turns, [], 'the text was made, but never delivered: no turn');
  },
);
