import { spawnSync } from 'node:child_process';
import OpenAI from 'openai';
import t from 'tap';
import { parseSse, sseJson } from '../helpers/sse.js';
import { waitFor } from '../helpers/wait.js';
import { openLiveClient } from '../helpers/ws-client.js';
import { AUTH, startStack } from '../helpers/stack.js';

// Voice in chat end to end: gateway → NATS → worker → the fake Ollama (the text), then gateway →
// NATS (agents.voice_processor.speech) → worker → the real espeak-ng (and ffmpeg for mp3/pcm16).
const stack = await startStack();
t.teardown(() => stack.close());
const client = new OpenAI({ baseURL: `${stack.baseUrl}/v1`, apiKey: 'local-only', maxRetries: 0 });

const post = (body: Record<string, unknown>, headers: Record<string, string> = {}) =>
  fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { ...AUTH, ...headers },
    body: JSON.stringify(body),
  });
const ask = (content: string, extra: Record<string, unknown> = {}) => ({
  model: 'testing',
  messages: [{ role: 'user', content }],
  ...extra,
});
const SPOKEN = { modalities: ['text', 'audio'], audio: { voice: 'alloy', format: 'wav' } };
const errorOf = async (res: Response) =>
  ((await res.json()) as { error: { code: string; message: string; param: string | null } }).error;
const turnOf = (requestId: string) =>
  stack.db.selectFrom('turns').selectAll().where('request_id', '=', requestId).executeTakeFirst();
const rowCount = async () => (await stack.db.selectFrom('turns').select('id').execute()).length;

/** Root mean square of 16-bit little-endian samples (0 = silence, 32767 = full scale). */
function rms(pcm: Buffer): number {
  let sum = 0;
  const samples = Math.floor(pcm.length / 2);
  for (let i = 0; i < samples; i++) sum += pcm.readInt16LE(i * 2) ** 2;
  return Math.sqrt(sum / Math.max(1, samples));
}

/** Any audio file → 16 kHz mono 16-bit PCM, by ffmpeg. */
function decode(audio: Buffer, inputFormat: string[] = []): Buffer {
  const run = spawnSync(
    'ffmpeg',
    ['-loglevel', 'error', ...inputFormat, '-i', 'pipe:0', '-f', 's16le', '-ac', '1', '-ar', '16000', 'pipe:1'],
    {
      input: audio,
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  if (run.status !== 0) throw new Error(`ffmpeg could not decode: ${run.stderr.toString()}`);
  return run.stdout;
}

t.test('a spoken answer: content null, message.audio with a WAV of speech, the text as transcript', async (t) => {
  stack.ollama.behave({ tokens: ['Hello', ' world', '.'] });
  const res = await post(ask('Greet me', SPOKEN));
  t.equal(res.status, 200);
  t.equal(res.headers.get('x-agentbus-voice-agent'), 'voice_processor');
  const body = await res.json();
  const message = body.choices[0].message;
  t.equal(message.content, null, 'as OpenAI: the text is the transcript');
  t.equal(message.audio.transcript, 'Hello world.');
  t.equal(message.audio.id, `audio_${body.id}`);
  t.ok(message.audio.expires_at > Date.now() / 1000, 'expires in the future');
  const wav = Buffer.from(message.audio.data, 'base64');
  t.equal(wav.toString('latin1', 0, 4), 'RIFF');
  t.equal(wav.toString('latin1', 8, 12), 'WAVE');
  t.equal(wav.readUInt32LE(40), wav.length - 44, 'the real data size');
  const seconds = (wav.length - 44) / 2 / 22050;
  t.ok(seconds > 0.4 && seconds < 5, `about a second of speech (${seconds.toFixed(2)} s)`);
  t.ok(rms(wav.subarray(44)) > 300, `sound, not silence (RMS ${rms(wav.subarray(44)).toFixed(0)})`);
  const turn = await turnOf(body.id);
  t.equal(turn?.assistant_response, 'Hello world.', 'memory keeps the transcript');
  t.notOk(JSON.stringify(turn).includes(message.audio.data.slice(0, 64)), 'and not the audio');
  const speaking = stack.logs.lines.findLast((l) => l['msg'] === 'speaking');
  t.match(String(speaking?.['espeak']), / -v en-us\+f3 /);
});

t.test('the openai SDK reads message.audio (mp3 through ffmpeg)', async (t) => {
  stack.ollama.behave({ tokens: ['The', ' SDK', ' hears', ' this', '.'] });
  const completion = await client.chat.completions.create({
    model: 'testing',
    modalities: ['text', 'audio'],
    audio: { voice: 'nova', format: 'mp3' },
    messages: [{ role: 'user', content: 'Say something' }],
  });
  const audio = completion.choices[0]!.message.audio!;
  t.equal(audio.transcript, 'The SDK hears this.');
  const mp3 = Buffer.from(audio.data, 'base64');
  t.ok(mp3.toString('latin1', 0, 3) === 'ID3' || (mp3[0] === 0xff && (mp3[1]! & 0xe0) === 0xe0), 'an MP3');
  const pcm = decode(mp3);
  t.ok(pcm.length / 2 / 16000 > 0.4, 'with a second or so of audio');
  t.ok(rms(pcm) > 300, 'that is sound');
});

t.test('streamed: transcript pieces while the model writes, then audio data chunks, expires_at, [DONE]', async (t) => {
  stack.ollama.behave({ tokens: ['Streaming', ' speech', ' works', '.'] });
  const res = await post(
    ask('Stream it', { stream: true, modalities: ['text', 'audio'], audio: { voice: 'echo', format: 'pcm16' } }),
  );
  t.equal(res.status, 200);
  t.equal(res.headers.get('x-agentbus-voice-agent'), 'voice_processor');
  const { events } = parseSse(await res.text());
  t.equal(events.at(-1)!.data, '[DONE]');
  const chunks = sseJson(events);
  const deltas = chunks.map((c) => c.choices[0]?.delta ?? {});
  t.match(deltas[0], { role: 'assistant', content: null, audio: { id: /^audio_chatcmpl-/, transcript: 'Streaming' } });
  const transcript = deltas.map((d) => d.audio?.transcript ?? '').join('');
  t.equal(transcript, 'Streaming speech works.');
  const data = deltas.filter((d) => d.audio?.data);
  t.ok(data.length > 0, `${data.length} audio chunk(s)`);
  const lastTranscript = deltas.findLastIndex((d) => d.audio?.transcript);
  t.ok(deltas.findIndex((d) => d.audio?.data) > lastTranscript, 'audio after the whole transcript');
  const pcm = Buffer.concat(data.map((d) => Buffer.from(d.audio.data, 'base64')));
  const joined: string = data.map((d) => d.audio.data).join('');
  t.same(Buffer.from(joined, 'base64'), pcm, 'the pieces joined as text decode as one file too');
  t.ok(pcm.length / 2 / 24000 > 0.4, 'OpenAI pcm16: 24 kHz mono, about a second');
  t.ok(rms(pcm) > 300, 'sound');
  const expiry = deltas.find((d) => d.audio?.expires_at);
  t.match(expiry, { audio: { id: deltas[0].audio.id, expires_at: Number } });
  t.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
  const turn = await turnOf(chunks[0].id);
  t.equal(turn?.assistant_response, 'Streaming speech works.');
});

t.test('an empty answer is spoken too: an empty transcript and a file of no sound', async (t) => {
  stack.ollama.behave({ tokens: [] });
  const completion = await client.chat.completions.create({
    model: 'testing',
    modalities: ['text', 'audio'],
    audio: { voice: 'alloy', format: 'wav' },
    messages: [{ role: 'user', content: 'Say nothing' }],
  });
  const message = completion.choices[0]!.message;
  t.equal(message.content, null);
  t.match(message.audio, { id: `audio_${completion.id}`, transcript: '', expires_at: Number });
  const wav = Buffer.from(message.audio!.data, 'base64');
  t.equal(wav.length, 44, 'a WAV header and no samples');
  t.equal(wav.toString('latin1', 0, 4), 'RIFF');
  t.equal(decode(wav).length, 0, 'ffmpeg reads it: no sound');
  t.equal((await turnOf(completion.id))?.assistant_response, '', 'stored as any answer');

  const flac = await post(
    ask('Say nothing', { modalities: ['text', 'audio'], audio: { voice: 'alloy', format: 'flac' } }),
  );
  const flacBody = await flac.json();
  t.equal(decode(Buffer.from(flacBody.choices[0].message.audio.data, 'base64')).length, 0, 'a FLAC of no samples');

  const res = await post(
    ask('Say nothing', { stream: true, modalities: ['text', 'audio'], audio: { voice: 'alloy', format: 'pcm16' } }),
  );
  t.equal(res.headers.get('x-agentbus-voice-agent'), 'voice_processor');
  const { events } = parseSse(await res.text());
  t.equal(events.at(-1)!.data, '[DONE]');
  const chunks = sseJson(events);
  const deltas = chunks.map((c) => c.choices[0]?.delta ?? {});
  t.match(deltas[0], { role: 'assistant', content: null, audio: { id: /^audio_chatcmpl-/, transcript: '' } });
  t.match(
    deltas.filter((d) => d.audio !== undefined),
    [{ audio: { transcript: '' } }, { audio: { data: '' } }, { audio: { id: deltas[0].audio.id, expires_at: Number } }],
    'pcm16 of no samples: an empty data chunk',
  );
  t.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
});

t.test('a voice agent asked for speech in words answers with audio; modalities ["text"] opts out', async (t) => {
  stack.ollama.behave({ tokens: ['Hello', ' world'] });
  let body = await (
    await post({ model: 'voice_processor', messages: [{ role: 'user', content: 'Convert to speech: Hello world' }] })
  ).json();
  t.equal(body.choices[0].message.content, null);
  t.equal(body.choices[0].message.audio.transcript, 'Hello world');
  t.equal(Buffer.from(body.choices[0].message.audio.data, 'base64').toString('latin1', 0, 4), 'RIFF', 'wav by default');

  stack.ollama.behave({ tokens: ['হ্যালো', ' বিশ্ব'] });
  body = await (
    await post({ model: 'voice_processor', messages: [{ role: 'user', content: 'বাংলায় টেক্সট-টু-স্পিচ তৈরি করো' }] })
  ).json();
  t.equal(body.choices[0].message.audio.transcript, 'হ্যালো বিশ্ব');
  const speaking = stack.logs.lines.findLast((l) => l['msg'] === 'speaking');
  t.match(String(speaking?.['espeak']), / -v bn\+f3 /, 'the Bengali voice');

  stack.ollama.behave({ tokens: ['Just', ' text'] });
  body = await (
    await post({
      model: 'voice_processor',
      modalities: ['text'],
      messages: [{ role: 'user', content: 'Convert to speech: hi' }],
    })
  ).json();
  t.equal(body.choices[0].message.content, 'Just text');
  t.notOk(body.choices[0].message.audio);
  body = await (
    await post({ model: 'voice_processor', messages: [{ role: 'user', content: 'Clean up this transcript' }] })
  ).json();
  t.equal(body.choices[0].message.content, 'Just text', 'no speech asked for: text');
  body = await (await post(ask('Convert to speech: hi'))).json();
  t.equal(body.choices[0].message.content, 'Just text', 'not a voice agent: text');
});

t.test('an answer longer than one speech request is said in pieces, joined into one WAV', async (t) => {
  const sentence = 'Every sentence here adds to an answer longer than one speech request may carry. ';
  const tokens = Array.from({ length: 60 }, () => sentence);
  const text = tokens.join('');
  t.ok(text.length > 4096, `${text.length} characters`);
  stack.ollama.behave({ tokens });
  const before = stack.logs.lines.filter((l) => l['msg'] === 'speaking').length;
  const res = await post(ask('Talk at length', SPOKEN));
  t.equal(res.status, 200);
  const audio = (await res.json()).choices[0].message.audio;
  t.equal(audio.transcript, text, 'the whole text is the transcript');
  const wav = Buffer.from(audio.data, 'base64');
  t.equal(wav.toString('latin1', 0, 4), 'RIFF');
  t.equal(wav.readUInt32LE(40), wav.length - 44, 'one header, with the size of all pieces');
  t.equal(wav.indexOf('RIFF', 4, 'latin1'), -1, 'no second header inside');
  t.equal(stack.logs.lines.filter((l) => l['msg'] === 'speaking').length - before, 2, 'two speech requests');
  const flac = await post(ask('Talk at length', { ...SPOKEN, audio: { voice: 'alloy', format: 'flac' } }));
  t.equal(flac.status, 400);
  t.match(await errorOf(flac), { code: 'audio_output_too_long', param: 'audio.format' });
  // ADTS frames each carry their header: the pieces' streams join end to end, as mp3's do.
  const aac = await post(ask('Talk at length', { ...SPOKEN, audio: { voice: 'alloy', format: 'aac' } }));
  t.equal(aac.status, 200);
  const adts = Buffer.from((await aac.json()).choices[0].message.audio.data, 'base64');
  t.ok(adts[0] === 0xff && (adts[1]! & 0xf0) === 0xf0, 'ADTS');
  const seconds = decode(adts).length / 2 / 16000;
  t.ok(seconds > (0.9 * (wav.length - 44)) / 2 / 22050, `both pieces heard: ${seconds.toFixed(1)} s`);
});

t.test("a later request's assistant audio {id} stands for its transcript; an unknown id is refused", async (t) => {
  stack.ollama.behave({ tokens: ['First', ' answer'] });
  const first = await (await post(ask('One', SPOKEN))).json();
  stack.ollama.behave({ tokens: ['Second'] });
  const history = [
    { role: 'user', content: 'One' },
    { role: 'assistant', content: null, audio: { id: first.choices[0].message.audio.id } },
    { role: 'user', content: 'Two' },
  ];
  const res = await post({ model: 'testing', messages: history });
  t.equal(res.status, 200);
  const sent = stack.ollama.requests.at(-1)!.messages.filter((m) => m.role !== 'system');
  t.same(
    sent.map((m) => [m.role, m.content]),
    [
      ['user', 'One'],
      ['assistant', 'First answer'],
      ['user', 'Two'],
    ],
  );
  const before = stack.ollama.requests.length;
  for (const id of ['audio_chatcmpl-nosuchthing', 'not-an-audio-id']) {
    const bad = await post({ model: 'testing', messages: [history[0], { ...history[1], audio: { id } }, history[2]] });
    t.equal(bad.status, 400);
    t.match(await errorOf(bad), {
      code: 'invalid_request',
      param: 'messages[1].audio.id',
      message: /no spoken answer/,
    });
  }
  t.equal(stack.ollama.requests.length, before, 'the model was not asked');
});

t.test('bad input: a clear 400 naming the key, nothing asked, nothing stored', async (t) => {
  const rows = await rowCount();
  const before = stack.ollama.requests.length;
  const cases: Array<[Record<string, unknown>, string, string]> = [
    [{ modalities: ['text', 'audio'], audio: { voice: 'robot', format: 'wav' } }, 'audio.voice', 'invalid_request'],
    [{ modalities: ['text', 'audio'], audio: { voice: 'alloy', format: 'ogg' } }, 'audio.format', 'invalid_request'],
    [{ modalities: ['text', 'audio'], audio: { voice: 'alloy' } }, 'audio.format', 'invalid_request'],
    [{ modalities: ['text', 'audio'] }, 'audio', 'invalid_request'],
    [{ audio: { voice: 'alloy', format: 'wav' } }, 'modalities', 'invalid_request'],
    [{ modalities: ['audio'], audio: { voice: 'alloy', format: 'wav' } }, 'modalities', 'invalid_request'],
    [{ modalities: ['video'] }, 'modalities[0]', 'invalid_request'],
  ];
  for (const [extra, param, code] of cases) {
    const res = await post(ask('hi', extra));
    t.equal(res.status, 400, JSON.stringify(extra));
    t.match(await errorOf(res), { code, param });
  }
  t.equal(stack.ollama.requests.length, before, 'the model was never asked');
  t.equal(await rowCount(), rows, 'no memory row');
});

t.test('other faces refuse audio output by name rather than dropping it (WebSocket, Responses)', async (t) => {
  const client = await openLiveClient(stack.baseUrl, { headerKey: 'local-only' });
  t.teardown(() => client.close());
  await client.next((f) => f.type === 'ready');
  client.send({ type: 'chat', id: 'a1', agent: 'testing', messages: [{ role: 'user', content: 'hi' }], ...SPOKEN });
  const { terminal } = await client.finish('a1');
  t.match(terminal, { type: 'error', error: { code: 'invalid_request', param: 'audio' } });
  const history = [
    { role: 'user', content: 'One' },
    { role: 'assistant', content: null, audio: { id: 'audio_chatcmpl-x' } },
    { role: 'user', content: 'Two' },
  ];
  client.send({ type: 'chat', id: 'a2', agent: 'testing', messages: history });
  t.match((await client.finish('a2')).terminal, {
    type: 'error',
    error: { param: 'messages[1].audio', message: /POST \/v1\/chat\/completions only/ },
  });
  const res = await fetch(`${stack.baseUrl}/v1/completions`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({ model: 'testing', prompt: 'hi', ...SPOKEN }),
  });
  t.equal(res.status, 400);
  t.match(await errorOf(res), { param: 'audio' });
});

t.test('a client that leaves during the speech stops it on the worker, and nothing is stored', async (t) => {
  const sentence = 'This answer is long enough to keep the speech engine busy for a good while. ';
  stack.ollama.behave({ tokens: Array.from({ length: 40 }, () => sentence) });
  const left = new AbortController();
  const res = await fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify(ask('Talk a lot', { stream: true, ...SPOKEN })),
    signal: left.signal,
  });
  const reader = res.body!.getReader();
  let text = '';
  for (let read = await reader.read(); !read.done; read = await reader.read()) {
    text += Buffer.from(read.value).toString('utf8');
    if (text.includes('"data":')) break;
  }
  const id = /"id":"(chatcmpl-[^"]+)"/.exec(text)![1]!;
  left.abort();
  await waitFor('the speech to be cancelled on the worker', () =>
    stack.logs.lines.some((l) => l['code'] === 'request_cancelled' && String(l['requestId']).startsWith('speech-')),
  );
  t.equal(await turnOf(id), undefined, 'the answer was not delivered: no turn');
});

t.test("the openai SDK's stream carries the audio deltas", async (t) => {
  stack.ollama.behave({ tokens: ['Streamed', ' to', ' the', ' SDK.'] });
  const stream = await client.chat.completions.create({
    model: 'testing',
    stream: true,
    modalities: ['text', 'audio'],
    audio: { voice: 'alloy', format: 'wav' },
    messages: [{ role: 'user', content: 'Stream to the SDK' }],
  });
  let transcript = '';
  const data: Buffer[] = [];
  for await (const chunk of stream) {
    // Not in the SDK's delta type (openai-openapi issue 577), but on the wire as OpenAI sends it.
    const audio = (chunk.choices[0]?.delta as { audio?: { transcript?: string; data?: string } } | undefined)?.audio;
    transcript += audio?.transcript ?? '';
    if (audio?.data) data.push(Buffer.from(audio.data, 'base64'));
  }
  t.equal(transcript, 'Streamed to the SDK.');
  t.equal(Buffer.concat(data).toString('latin1', 0, 4), 'RIFF');
});
