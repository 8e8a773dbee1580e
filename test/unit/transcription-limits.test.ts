import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { AgentbusError } from '../../bus-schemas/index.js';
import { readEnv } from '../../common/env.js';
import { MAX_TRANSCRIPTION_SECONDS, refuseByWavHeader, wavSeconds } from '../../workers/transcription/audio-limits.js';
import { findBinary } from '../../workers/speech/find-binary.js';
import { ffmpegToPcm } from '../../workers/transcription/plan.js';
import { recognize } from '../../workers/transcription/recognize.js';
import { readTranscriptionSettings } from '../../workers/transcription/settings.js';
import { readWavHeader } from '../../workers/transcription/wav-header.js';
import { wavOf } from '../helpers/pocketsphinx-testdata.js';

// How much audio a worker hears: ffmpeg's cut, and the WAV headers refused before anything runs.

/** A mono 16-bit PCM WAV header at `rate` declaring `declared` bytes of samples, with `present` of them. */
function wavHeaderOf(rate: number, declared: number, present: number, format = 1, byteRate = rate * 2): Buffer {
  const wav = wavOf(Buffer.alloc(present), rate);
  wav.writeUInt16LE(format, 20);
  wav.writeUInt32LE(byteRate, 28);
  wav.writeUInt32LE(declared, 40);
  return wav;
}
const refusal = (wav: Buffer, maxSeconds = MAX_TRANSCRIPTION_SECONDS) => {
  try {
    refuseByWavHeader(wav, maxSeconds);
    return undefined;
  } catch (err) {
    return err as AgentbusError;
  }
};

t.test('ffmpeg writes at most the cap: -t in seconds and -fs in bytes, before the output', async (t) => {
  const args = ffmpegToPcm('/tmp/x/upload', '/tmp/x/audio.raw', 1500, 'mp3');
  t.same(args.slice(args.indexOf('-t'), args.indexOf('-t') + 4), ['-t', '1500', '-fs', String(1500 * 32_000)]);
  t.ok(args.indexOf('-fs') < args.indexOf('/tmp/x/audio.raw'), 'output options come before the output');
  t.ok(args.indexOf('-t') > args.indexOf('/tmp/x/upload'), 'of the output, not the input');
  t.same(ffmpegToPcm('i', 'o', 3, 'ogg').slice(-8, -4), ['-t', '3', '-fs', '96000']);
});

t.test("the default is OpenAI's 25 minutes, and MAX_TRANSCRIPTION_SECONDS sets it", async (t) => {
  t.equal(MAX_TRANSCRIPTION_SECONDS, 1500);
  t.equal(readTranscriptionSettings(readEnv({}), 'ffmpeg').maxSeconds, 1500);
  t.equal(readTranscriptionSettings(readEnv({ MAX_TRANSCRIPTION_SECONDS: '30' }), 'ffmpeg').maxSeconds, 30);
  const read = readEnv({ MAX_TRANSCRIPTION_SECONDS: '0' });
  readTranscriptionSettings(read, 'ffmpeg');
  t.throws(() => read.done(), { message: /MAX_TRANSCRIPTION_SECONDS="0" must be an integer between 1 and 86400/ });
});

t.test('a WAV header: its layout, and how many bytes of samples the file really holds', async (t) => {
  t.match(readWavHeader(wavHeaderOf(8000, 16_000, 16_000)), {
    format: 1,
    channels: 1,
    rate: 8000,
    bitsPerSample: 16,
    dataOffset: 44,
    dataBytes: 16_000,
  });
  t.equal(readWavHeader(wavHeaderOf(8000, 1e9, 100))?.dataBytes, 100, 'a size larger than the file: what is there');
  t.equal(readWavHeader(wavHeaderOf(8000, 10, 100))?.dataBytes, 10, 'a smaller one: the declared size');
  t.equal(readWavHeader(wavHeaderOf(8000, 0xffffffff, 100))?.dataBytes, 100, "a streamed WAV's unknown size");
  const noFmt = Buffer.concat([Buffer.from('RIFF\0\0\0\0WAVEdata\x04\0\0\0abcd', 'latin1')]);
  t.equal(readWavHeader(noFmt), undefined, 'data before any fmt chunk');
  t.equal(readWavHeader(Buffer.from('ID3\x04')), undefined);
});

t.test("a WAV's length follows from its layout; a compressed one's from its byte rate", async (t) => {
  t.equal(wavSeconds(readWavHeader(wavHeaderOf(8000, 32_000, 32_000))!), 2);
  // IMA ADPCM (0x11) at 4000 bytes a second: the byte rate, not the rate and sample size.
  t.equal(wavSeconds(readWavHeader(wavHeaderOf(8000, 32_000, 32_000, 0x11, 4000))!), 8);
  t.equal(wavSeconds(readWavHeader(wavHeaderOf(8000, 100, 100, 0x11, 0))!), undefined, 'no byte rate: unknown');
  const silent = wavHeaderOf(8000, 100, 100);
  silent.writeUInt16LE(0, 22);
  t.equal(wavSeconds(readWavHeader(silent)!), undefined, 'no channels: ffmpeg will say what is wrong');
});

t.test("the tester's crafted WAVs are refused before anything runs", async (t) => {
  // 200 KB declared 100 Hz mono 16-bit: 1000 s, which ffmpeg would have made 32 MB.
  t.match(refusal(wavHeaderOf(100, 200_000, 200_000)), {
    code: 'audio_file_invalid',
    status: 400,
    param: 'file',
    message: /100 Hz.*below 1000 Hz/,
  });
  t.match(refusal(wavHeaderOf(1, 2000, 2000)), { code: 'audio_file_invalid', message: /says 1 Hz/ });
  t.equal(refusal(wavHeaderOf(1000, 2000, 2000)), undefined, '1000 Hz is allowed');
});

t.test('a WAV longer than the cap by its own header: audio_too_long in OpenAI words', async (t) => {
  // 8 kHz mono 16-bit: 16,000 bytes a second.
  t.match(refusal(wavHeaderOf(8000, 48_000, 48_000), 2), {
    code: 'audio_too_long',
    status: 400,
    param: 'file',
    message: /^audio duration 3 seconds is longer than 2 seconds which is the maximum.*MAX_TRANSCRIPTION_SECONDS/,
  });
  t.equal(refusal(wavHeaderOf(8000, 32_000, 32_000), 2), undefined, 'exactly the cap is heard');
  t.equal(
    refusal(wavHeaderOf(8000, 1e9, 32_000), 2),
    undefined,
    'a size the file does not have is not held against it',
  );
  t.match(refusal(wavHeaderOf(8000, 1e6, 1e6, 0x11, 4000), 100), { code: 'audio_too_long', message: /250 seconds/ });
  t.equal(refusal(Buffer.from('OggS')), undefined, 'not a WAV: ffmpeg cuts it instead');
});

t.test('recognize refuses them before any engine or temporary file', async (t) => {
  // Commands that do not exist: reaching either would be another error.
  const plan = {
    pocketsphinx: { command: '/nowhere/pocketsphinx_continuous', args: [] },
    ffmpeg: '/nowhere/ffmpeg',
    format: 'wav' as const,
    maxSeconds: 2,
  };
  const signal = new AbortController().signal;
  const low = await recognize(plan, wavHeaderOf(100, 20_000, 20_000), signal).catch((e: unknown) => e);
  t.match(low, { code: 'audio_file_invalid' });
  const long = await recognize(plan, wavHeaderOf(16_000, 96_000, 96_000), signal).catch((e: unknown) => e);
  t.match(long, { code: 'audio_too_long', message: /3 seconds is longer than 2 seconds/ });
});

t.test('ffmpeg reads the upload with the demuxer of its sniffed container, from the file only', async (t) => {
  const args = ffmpegToPcm('/tmp/x/upload', '/tmp/x/audio.raw', 1500, 'webm');
  const input = args.indexOf('-i');
  t.same(args.slice(input - 4, input), ['-protocol_whitelist', 'file', '-f', 'matroska']);
  t.same(ffmpegToPcm('i', 'o', 3, 'mp4').slice(5, 7), ['-f', 'mov']);
});

const ffmpeg = findBinary('ffmpeg');
t.test(
  'an ID3 tag before a playlist is not a way to read files on the worker',
  {
    skip: ffmpeg ? false : 'ffmpeg is not installed',
  },
  async (t) => {
    if (!ffmpeg) return;
    const dir = await mkdtemp(join(tmpdir(), 'agentbus-hls-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    // A real local MP3 the playlist names: probed, ffmpeg would decode it as the upload's audio.
    const secret = join(dir, 'secret.mp3');
    const made = spawnSync(ffmpeg, ['-loglevel', 'error', '-f', 'lavfi', '-i', 'sine=d=1', '-ar', '16000', secret]);
    t.equal(made.status, 0, 'made a local mp3');
    const playlist = `#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:1,\nfile://${secret}\n#EXT-X-ENDLIST\n`;
    const upload = Buffer.concat([Buffer.from('ID3\x04\0\0\0\0\0\0', 'latin1'), Buffer.from(playlist)]);
    const plan = {
      pocketsphinx: { command: '/nowhere/pocketsphinx_continuous', args: [] },
      ffmpeg,
      format: 'mp3' as const,
      maxSeconds: 60,
    };
    const err = await recognize(plan, upload, new AbortController().signal).catch((e: unknown) => e);
    t.match(err, { code: 'audio_file_invalid', param: 'file' }, 'not decoded: pocketsphinx is never reached');
    t.notMatch((err as Error).message, /agentbus-transcribe-|@ 0x/, "no worker path nor ffmpeg's addresses");
  },
);
