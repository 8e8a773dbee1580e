import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentbusError } from '../../bus-schemas/index.js';
import { parsePocketsphinxOutput, type Heard } from './pocketsphinx-output.js';
import { refuseByWavHeader } from './audio-limits.js';
import { ffmpegToPcm, type TranscriptionPlan } from './plan.js';
import { PCM_BYTES_PER_SECOND, pcm16kSamples } from './wav-header.js';

// OpenAI's transcription endpoint refuses shorter audio (`audio_too_short`).
const MIN_AUDIO_SECONDS = 0.1;

/** What an upload said, and how long it was. */
export interface Recognized extends Heard {
  text: string;
  /** Seconds of audio pocketsphinx heard. */
  duration: number;
}

/**
 * Runs a child to its end: its stdout, or the last of its stderr (pocketsphinx logs a lot; the
 * error is at the end) with its exit code. Aborting `signal` kills it and throws the reason.
 */
async function run(
  command: string,
  args: readonly string[],
  signal: AbortSignal,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  signal.throwIfAborted();
  // Both engines read files: nothing goes in on stdin.
  const child: ChildProcess = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-2000)));
  const kill = () => child.kill('SIGKILL');
  signal.addEventListener('abort', kill, { once: true });
  try {
    const [code] = (await Promise.race([
      once(child, 'close'),
      once(child, 'error').then(([err]) => {
        throw new AgentbusError(
          'transcription_engine_unavailable',
          `could not start ${command}: ${(err as Error).message}`,
        );
      }),
    ])) as [number | null];
    signal.throwIfAborted();
    return { code, stdout, stderr: stderr.trim() };
  } finally {
    signal.removeEventListener('abort', kill);
    if (child.exitCode === null && child.signalCode === null) kill();
  }
}

/** ffmpeg's last words, without the worker's temporary path or its own memory addresses. */
const ffmpegSays = (stderr: string, upload: string) =>
  stderr
    .split('\n')
    .slice(-2)
    .join(' ')
    .replaceAll(`${upload}: `, '')
    .replaceAll(upload, 'the file')
    .replace(/ @ 0x[0-9a-f]+\]/g, ']');

/**
 * Hears an upload with pocketsphinx. A WAV whose header says it is longer than `plan.maxSeconds`,
 * or names a sample rate below 1000 Hz, is refused before anything runs. A 16 kHz mono 16-bit WAV
 * goes in as it is; anything else is converted by ffmpeg first (missing ffmpeg:
 * `audio_format_unavailable` naming it; a file it cannot decode: `audio_file_invalid`); either way
 * at most `plan.maxSeconds` are heard. pocketsphinx reads a file, not a pipe (it opens `-infile`
 * itself, which a socket on stdin defeats), so the PCM — and an upload ffmpeg converts — go to a
 * private temporary directory, removed at the end. Aborting `signal` kills the running process and
 * throws its reason.
 */
export async function recognize(plan: TranscriptionPlan, audio: Buffer, signal: AbortSignal): Promise<Recognized> {
  if (plan.format === 'wav') refuseByWavHeader(audio, plan.maxSeconds);
  const samples = plan.format === 'wav' ? pcm16kSamples(audio) : undefined;
  if (samples === undefined && !plan.ffmpeg)
    throw new AgentbusError(
      'audio_format_unavailable',
      'Only 16 kHz mono 16-bit WAV can be transcribed on this worker: other audio needs ffmpeg (FFMPEG_PATH), ' +
        'which is not installed ("apt-get install ffmpeg").',
      { param: 'file' },
    );
  const dir = await mkdtemp(join(tmpdir(), 'agentbus-transcribe-'));
  try {
    // `.raw`: pocketsphinx reads headerless 16 kHz samples (a `.wav` name would make it parse a header).
    const pcm = join(dir, 'audio.raw');
    if (samples !== undefined)
      await writeFile(pcm, samples.subarray(0, plan.maxSeconds * PCM_BYTES_PER_SECOND), { mode: 0o600 });
    else {
      const upload = join(dir, 'upload');
      await writeFile(upload, audio, { mode: 0o600 });
      const ffmpeg = await run(plan.ffmpeg!, ffmpegToPcm(upload, pcm, plan.maxSeconds, plan.format), signal);
      if (ffmpeg.code !== 0)
        throw new AgentbusError(
          'audio_file_invalid',
          `The file could not be decoded as audio: ${ffmpegSays(ffmpeg.stderr, upload) || 'no message'}`,
          { param: 'file' },
        );
    }
    const pcmBytes = (await stat(pcm)).size;
    // Heard as silence, it would answer "" as if nobody spoke; OpenAI refuses it by name.
    if (pcmBytes < PCM_BYTES_PER_SECOND * MIN_AUDIO_SECONDS)
      throw new AgentbusError('audio_too_short', undefined, { param: 'file' });
    const sphinx = await run(plan.pocketsphinx.command, [...plan.pocketsphinx.args, '-infile', pcm], signal);
    if (sphinx.code !== 0)
      throw new AgentbusError(
        'backend_error',
        `pocketsphinx failed (exit ${sphinx.code}): ${sphinx.stderr.split('\n').slice(-2).join(' ')}`,
      );
    const heard = parsePocketsphinxOutput(sphinx.stdout);
    return {
      ...heard,
      text: heard.segments.map((s) => s.text).join(' '),
      duration: Math.round((pcmBytes / PCM_BYTES_PER_SECOND) * 1000) / 1000,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
