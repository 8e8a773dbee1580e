import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** How the fake answers the next speech requests. */
export interface FakeAudioBehaviour {
  /** Answer with this status and an OpenAI error body, before any audio. */
  failWith?: { status: number; message: string };
  /** Send the headers and this many bytes of audio, then cut the connection. */
  cutAfterBytes?: number;
}

export interface FakeOpenAIAudio {
  /** Base URL including `/v1`, as OPENAI_AUDIO_BASE_URL takes it. */
  readonly url: string;
  /** Every `/v1/audio/speech` request, in order. */
  readonly requests: Array<{ body: Record<string, any>; authorization: string | undefined }>;
  /** Every `/v1/audio/transcriptions` or `/translations` request, in order: its path, multipart fields, file. */
  readonly transcriptions: Array<{
    path: string;
    fields: Record<string, string>;
    file: Buffer;
    authorization: string | undefined;
  }>;
  /** What it hears in every upload (`verbose_json`'s text). */
  readonly heard: string;
  /** The audio it serves: a short WAV of a 440 Hz tone. */
  readonly wav: Buffer;
  behave(behaviour: FakeAudioBehaviour): void;
  close(): Promise<void>;
}

/** A 16-bit mono 24 kHz WAV of `seconds` of a 440 Hz tone, with its true sizes. */
export function toneWav(seconds = 0.5, rate = 24_000): Buffer {
  const samples = Math.round(seconds * rate);
  const wav = Buffer.alloc(44 + samples * 2);
  wav.write('RIFF', 0, 'latin1');
  wav.writeUInt32LE(wav.length - 8, 4);
  wav.write('WAVEfmt ', 8, 'latin1');
  wav.writeUInt32LE(16, 16);
  wav.writeUInt16LE(1, 20); // PCM
  wav.writeUInt16LE(1, 22); // mono
  wav.writeUInt32LE(rate, 24);
  wav.writeUInt32LE(rate * 2, 28);
  wav.writeUInt16LE(2, 32);
  wav.writeUInt16LE(16, 34);
  wav.write('data', 36, 'latin1');
  wav.writeUInt32LE(samples * 2, 40);
  for (let i = 0; i < samples; i++)
    wav.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / rate)), 44 + i * 2);
  return wav;
}

// Small pieces, so the relay is seen to stream (several audio frames, in order).
const PIECE_BYTES = 4096;

/**
 * An OpenAI-compatible audio server over a real loopback socket: `POST /v1/audio/speech` streams
 * a WAV in pieces (whatever format was asked: the relay does not look inside),
 * `POST /v1/audio/transcriptions` (and `/translations`) hears the same sentence in every upload, and both fail on
 * demand — the test double for the `openai` audio engine.
 */
export async function startFakeOpenAIAudio(): Promise<FakeOpenAIAudio> {
  let behaviour: FakeAudioBehaviour = {};
  const requests: FakeOpenAIAudio['requests'] = [];
  const transcriptions: FakeOpenAIAudio['transcriptions'] = [];
  const wav = toneWav();
  const heard = 'Go forward, ten meters.';

  const fail = (res: ServerResponse, failWith: { status: number; message: string }) =>
    res
      .writeHead(failWith.status, { 'content-type': 'application/json' })
      .end(JSON.stringify({ error: { message: failWith.message, type: 'server_error', param: null, code: null } }));

  // Multipart in (read by undici's own parser), Whisper's verbose_json out, with a leading space.
  async function transcription(req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const form = await new Request('http://fake/', {
      method: 'POST',
      headers: { 'content-type': req.headers['content-type'] ?? '' },
      body: Buffer.concat(chunks),
    }).formData();
    const fields: Record<string, string> = {};
    let file = Buffer.alloc(0);
    const entries: Array<[string, string | Blob]> = [];
    form.forEach((value, name) => entries.push([name, value]));
    for (const [name, value] of entries) {
      if (typeof value === 'string') fields[name] = fields[name] === undefined ? value : `${fields[name]},${value}`;
      else file = Buffer.from(await value.arrayBuffer());
    }
    const path = req.url!;
    transcriptions.push({ path, fields, file, authorization: req.headers.authorization });
    if (behaviour.failWith) return fail(res, behaviour.failWith);
    const translated = path.endsWith('/translations');
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        task: translated ? 'translate' : 'transcribe',
        language: 'english',
        duration: 2.5,
        text: ` ${heard}`,
        segments: [{ id: 0, seek: 0, start: 0.25, end: 2.25, text: ` ${heard}`, temperature: 0 }],
        // Whisper's translations have no word times.
        ...(translated
          ? {}
          : { words: heard.split(' ').map((word, i) => ({ word, start: 0.25 + i * 0.5, end: 0.75 + i * 0.5 })) }),
      }),
    );
  }

  async function speech(req: IncomingMessage, res: ServerResponse) {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    const body = JSON.parse(raw);
    requests.push({ body, authorization: req.headers.authorization });
    const { failWith, cutAfterBytes } = behaviour;
    if (failWith) return fail(res, failWith);
    res.writeHead(200, { 'content-type': 'audio/wav', 'transfer-encoding': 'chunked' });
    const end = cutAfterBytes ?? wav.length;
    for (let at = 0; at < end; at += PIECE_BYTES) {
      res.write(wav.subarray(at, Math.min(end, at + PIECE_BYTES)));
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (cutAfterBytes !== undefined) return res.destroy();
    res.end();
  }

  const server = createServer((req, res) => {
    if (req.method === 'POST' && req.url === '/v1/audio/speech') return void speech(req, res);
    if (req.method === 'POST' && (req.url === '/v1/audio/transcriptions' || req.url === '/v1/audio/translations'))
      return void transcription(req, res);
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    transcriptions,
    heard,
    wav,
    behave(next) {
      behaviour = next;
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
