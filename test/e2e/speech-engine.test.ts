import { spawnSync } from 'node:child_process';
import t from 'tap';
import type { SpeechFormat } from '../../bus-schemas/index.js';
import { SPEECH_DEFAULTS } from '../../workers/speech/settings.js';
import { planSpeech } from '../../workers/speech/plan.js';
import { synthesize } from '../../workers/speech/synthesize.js';

// The worker's engine pipeline with the real espeak-ng and Debian's ffmpeg (installed by
// `npm test`'s pretest): each format comes out with its own magic bytes, and an abort kills both.
const text = 'Convert to speech: Hello world';
const speak = async (format: SpeechFormat, signal = new AbortController().signal) => {
  const plan = planSpeech({ input: text, voice: 'alloy', format, speed: 1 }, SPEECH_DEFAULTS);
  const chunks: Buffer[] = [];
  for await (const chunk of synthesize(plan, text, signal)) chunks.push(chunk);
  return Buffer.concat(chunks);
};

t.test('each format is what its name says', async (t) => {
  const wav = await speak('wav');
  t.equal(wav.toString('latin1', 0, 4), 'RIFF');
  const seconds = (wav.length - 44) / (22050 * 2);
  t.ok(seconds > 1 && seconds < 5, `about two seconds of speech (${seconds.toFixed(2)} s)`);
  const mp3 = await speak('mp3');
  t.ok(mp3.toString('latin1', 0, 3) === 'ID3' || (mp3[0] === 0xff && (mp3[1]! & 0xe0) === 0xe0), 'an MP3');
  t.equal((await speak('opus')).toString('latin1', 0, 4), 'OggS');
  const aac = await speak('aac');
  t.ok(aac[0] === 0xff && (aac[1]! & 0xf6) === 0xf0, 'ADTS: syncword 0xFFF, layer 0');
  t.equal((await speak('flac')).toString('latin1', 0, 4), 'fLaC');
  const pcm = await speak('pcm');
  const pcmSeconds = pcm.length / (24000 * 2);
  t.ok(
    Math.abs(pcmSeconds - seconds) < 0.2,
    `pcm is 24 kHz 16-bit mono of the same length (${pcmSeconds.toFixed(2)} s)`,
  );
  const samples = new Int16Array(pcm.buffer, pcm.byteOffset, pcm.length / 2);
  const rms = Math.sqrt(samples.reduce((sum, s) => sum + s * s, 0) / samples.length);
  t.ok(rms > 300, `sound in it, not silence (RMS ${rms.toFixed(0)})`);
});

t.test('an abort kills espeak-ng and ffmpeg and throws its reason', async (t) => {
  const left = new AbortController();
  const long = 'A long text keeps the engine busy. '.repeat(200);
  const plan = planSpeech({ input: long, voice: 'onyx', format: 'mp3', speed: 1 }, SPEECH_DEFAULTS);
  const audio = synthesize(plan, long, left.signal);
  t.ok((await audio.next()).value, 'a first chunk');
  left.abort(new Error('client left'));
  await t.rejects(
    (async () => {
      for await (const chunk of audio) void chunk;
    })(),
    { message: 'client left' },
  );
  const children = spawnSync('pgrep', ['-P', String(process.pid), 'espeak-ng|ffmpeg'])
    .stdout.toString()
    .trim();
  t.equal(children, '', 'no engine process left');
});
