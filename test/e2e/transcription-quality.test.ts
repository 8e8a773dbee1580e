import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { TRANSCRIPTION_DEFAULTS } from '../../workers/transcription/settings.js';
import {
  goForwardWav,
  HOW_TO_INSTALL_TESTDATA,
  librivoxClips,
  TESTDATA_DIR,
} from '../helpers/pocketsphinx-testdata.js';
import { startStack } from '../helpers/stack.js';
import { wordErrorRate } from '../helpers/word-error-rate.js';

// Transcription quality on real human speech: Debian's pocketsphinx-testdata recordings, heard by
// the engine run directly (pocketsphinx_continuous on the file) and through
// POST /v1/audio/transcriptions (gateway → NATS → worker), as WAV and as MP3/Ogg made by ffmpeg
// here. The word error rate is computed over the five LibriVox clips against their reference.
// The figures are printed (`# …`) and reported in docs/audio.md.
if (!existsSync(TESTDATA_DIR))
  throw new Error(`no pocketsphinx test data at ${TESTDATA_DIR}. ${HOW_TO_INSTALL_TESTDATA}`);
// 30 pocketsphinx runs two at a time, on cores shared with other test files: more than tap's 120 s default.
t.setTimeout(300_000);
const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'agentbus-quality-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const stack = await startStack({ workerAgents: ['voice_processor'], env: { API_KEYS: 'quality-key' } });
const auth = { authorization: 'Bearer quality-key' };
t.teardown(() => stack.close());
const clips = librivoxClips();

/** Runs `work` over `items`, at most `limit` at a time (two cores are shared with other tests). */
async function bounded<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < items.length; i = next++) results[i] = await work(items[i]!);
  };
  await Promise.all(Array.from({ length: limit }, lane));
  return results;
}

/** pocketsphinx_continuous on a 16 kHz WAV, as a user would run it: its hypothesis lines. */
async function direct(wav: string): Promise<string> {
  const model = TRANSCRIPTION_DEFAULTS.modelDir;
  const { stdout } = await run(TRANSCRIPTION_DEFAULTS.pocketsphinxPath, [
    ...['-infile', wav, '-logfn', '/dev/null'],
    ...['-hmm', join(model, 'en-us'), '-lm', join(model, 'en-us.lm.bin'), '-dict', join(model, 'cmudict-en-us.dict')],
  ]);
  return stdout.trim().split('\n').join(' ');
}

async function viaGateway(file: Buffer, name: string): Promise<string> {
  const body = new FormData();
  body.append('file', new Blob([new Uint8Array(file)]), name);
  body.append('model', 'whisper-1');
  const res = await fetch(`${stack.baseUrl}/v1/audio/transcriptions`, { method: 'POST', headers: auth, body });
  if (res.status !== 200) throw new Error(`${res.status} ${await res.text()}`);
  return ((await res.json()) as { text: string }).text;
}

const ffmpeg = (args: string[]) => run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args]);

t.test('"go forward ten meters", directly and through the gateway', async (t) => {
  const wav = join(dir, 'goforward.wav');
  await ffmpeg(['-f', 's16le', '-ar', '16000', '-ac', '1', '-i', join(TESTDATA_DIR, 'goforward.raw'), wav]);
  t.equal(await direct(wav), 'go forward ten meters');
  t.equal(await viaGateway(goForwardWav(), 'goforward.wav'), 'go forward ten meters');
  // An m4a as phones record it: ffmpeg's mp4 muxer writes the index (moov) after the audio.
  const m4a = join(dir, 'goforward.m4a');
  await ffmpeg(['-i', wav, '-c:a', 'aac', '-b:a', '128k', m4a]);
  const bytes = readFileSync(m4a);
  t.ok(bytes.indexOf('moov') > bytes.indexOf('mdat'), 'the index comes after the audio');
  t.equal(await viaGateway(bytes, 'goforward.m4a'), 'go forward ten meters');
});

t.test('the LibriVox clips: WER at most 40 %, no worse through the gateway', async (t) => {
  // The MP3 and Ogg files a client would send, and what the engine hears of each when run directly.
  const encodings = [
    { format: 'mp3', args: ['-c:a', 'libmp3lame', '-b:a', '64k'] },
    { format: 'ogg', args: ['-c:a', 'libvorbis', '-q:a', '4'] },
  ];
  const files = await bounded(clips, 2, async (clip) => {
    const encoded: Record<string, { file: string; decoded: string }> = {};
    for (const { format, args } of encodings) {
      const file = join(dir, `${clip.id}.${format}`);
      const decoded = join(dir, `${clip.id}.${format}.wav`);
      await ffmpeg(['-i', clip.file, ...args, file]);
      await ffmpeg(['-i', file, '-ac', '1', '-ar', '16000', '-c:a', 'pcm_s16le', decoded]);
      encoded[format] = { file, decoded };
    }
    return { clip, encoded };
  });
  const figures: Record<string, { direct: number; gateway: number }> = {};
  for (const format of ['wav', 'mp3', 'ogg']) {
    const heard = await bounded(files, 2, async ({ clip, encoded }) => {
      const file = format === 'wav' ? clip.file : encoded[format]!.file;
      const decoded = format === 'wav' ? clip.file : encoded[format]!.decoded;
      return {
        reference: clip.reference,
        direct: await direct(decoded),
        gateway: await viaGateway(readFileSync(file), `${clip.id}.${format}`),
      };
    });
    const rate = (key: 'direct' | 'gateway') =>
      wordErrorRate(heard.map((h) => ({ reference: h.reference, hypothesis: h[key] })));
    figures[format] = { direct: rate('direct'), gateway: rate('gateway') };
    for (const h of heard) t.comment(`${format} | ${h.reference}\n  direct:  ${h.direct}\n  gateway: ${h.gateway}`);
  }
  for (const [format, { direct, gateway }] of Object.entries(figures)) {
    const shown = `${format}: direct ${(direct * 100).toFixed(1)} %, through the gateway ${(gateway * 100).toFixed(1)} %`;
    t.comment(`WER ${shown}`);
    t.ok(direct <= 0.4, `the engine alone is within 40 % (${shown})`);
    t.ok(gateway <= direct + 1e-9, `the gateway is no worse than the engine on the same file (${shown})`);
  }
});

t.test('round trip: espeak-ng speech heard by pocketsphinx (measured, not tuned)', async (t) => {
  const phrases = [
    'hello world',
    'go forward ten meters',
    'the weather is nice today',
    'please open the door',
    'he was not an ill disposed young man',
  ];
  const heard = await bounded(phrases, 2, async (input) => {
    const speech = await fetch(`${stack.baseUrl}/v1/audio/speech`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tts-1', voice: 'alloy', input, response_format: 'wav' }),
    });
    t.equal(speech.status, 200);
    const hypothesis = await viaGateway(Buffer.from(await speech.arrayBuffer()), 'speech.wav');
    return { reference: input, hypothesis };
  });
  for (const h of heard) t.comment(`round trip | ${h.reference} → ${h.hypothesis}`);
  const rate = wordErrorRate(heard);
  t.comment(`WER round trip (espeak-ng en-us+f3 → pocketsphinx): ${(rate * 100).toFixed(1)} %`);
  t.ok(rate <= 1 && heard.every((h) => typeof h.hypothesis === 'string'), 'every phrase came back as text');
});
