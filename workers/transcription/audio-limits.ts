import { AgentbusError } from '../../bus-schemas/index.js';
import { PCM_BYTES_PER_SECOND, readWavHeader, type WavHeader } from './wav-header.js';

/**
 * The longest audio a worker hears (MAX_TRANSCRIPTION_SECONDS): 25 minutes, the most OpenAI's
 * gpt-4o-transcribe takes (longer is its 400 "audio duration … seconds is longer than 1500
 * seconds"). It bounds the decoded PCM at 48 MB and pocketsphinx's work, whatever the upload says.
 */
export const MAX_TRANSCRIPTION_SECONDS = 1500;

/**
 * Below this a WAV's sample rate is no recording (telephone speech is 8000 Hz): a header saying
 * 1 Hz would make ffmpeg stretch each byte of a small upload into 16,000 bytes of samples.
 */
export const MIN_SAMPLE_RATE = 1000;

// Uncompressed layouts, whose length follows from rate, channels and sample size alone.
const LINEAR_FORMATS = new Set([1, 3, 0xfffe]);

/** Seconds of sound in a WAV by its header; undefined when the header cannot say (ffmpeg decides). */
export function wavSeconds(header: WavHeader): number | undefined {
  const perSecond = LINEAR_FORMATS.has(header.format)
    ? header.rate * header.channels * Math.ceil(header.bitsPerSample / 8)
    : header.byteRate;
  return perSecond > 0 ? header.dataBytes / perSecond : undefined;
}

/**
 * Refuses, before any engine runs, a WAV whose own header makes it longer than `maxSeconds`
 * (`audio_too_long`, OpenAI's wording) or names an absurdly low sample rate (`audio_file_invalid`).
 * Other containers carry no length this cheap to trust: ffmpeg cuts them at the cap instead.
 */
export function refuseByWavHeader(audio: Buffer, maxSeconds: number): void {
  const header = readWavHeader(audio);
  if (!header) return;
  if (header.rate < MIN_SAMPLE_RATE)
    throw new AgentbusError(
      'audio_file_invalid',
      `The WAV header says ${header.rate} Hz; audio below ${MIN_SAMPLE_RATE} Hz is not a recording that can be ` +
        'transcribed (speech is 8000 Hz or more).',
      { param: 'file' },
    );
  const seconds = wavSeconds(header);
  if (seconds !== undefined && seconds > maxSeconds)
    throw new AgentbusError(
      'audio_too_long',
      `audio duration ${Math.round(seconds * 100) / 100} seconds is longer than ${maxSeconds} seconds which is the ` +
        'maximum for this model (MAX_TRANSCRIPTION_SECONDS). Send a shorter recording, or split it.',
      { param: 'file' },
    );
}

/**
 * ffmpeg's output limits for at most `maxSeconds` of 16 kHz mono 16-bit PCM: `-t` cuts the sound,
 * and `-fs` its bytes, which holds even for a stream whose timestamps lie to `-t`.
 */
export const pcmCapArgs = (maxSeconds: number): string[] => [
  '-t',
  String(maxSeconds),
  '-fs',
  String(maxSeconds * PCM_BYTES_PER_SECOND),
];
