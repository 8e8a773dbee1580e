import type { EnvReader } from '../../common/env.js';
import { MAX_TRANSCRIPTION_SECONDS } from './audio-limits.js';

/** Where the worker finds its transcription engine, its US English model and its decoder. */
export interface TranscriptionSettings {
  /** pocketsphinx's command-line recognizer (Debian's `pocketsphinx`). */
  pocketsphinxPath: string;
  /** The acoustic model, language model and dictionary (Debian's `pocketsphinx-en-us`). */
  modelDir: string;
  /** ffmpeg, which turns every upload but 16 kHz mono 16-bit WAV into what pocketsphinx reads. */
  ffmpegPath: string;
  /** The longest audio heard: a WAV saying it is longer is refused, other audio is cut there. */
  maxSeconds: number;
}

/** Debian's paths, when nothing is configured. */
export const TRANSCRIPTION_DEFAULTS: Readonly<TranscriptionSettings> = Object.freeze({
  pocketsphinxPath: 'pocketsphinx_continuous',
  modelDir: '/usr/share/pocketsphinx/model/en-us',
  ffmpegPath: 'ffmpeg',
  maxSeconds: MAX_TRANSCRIPTION_SECONDS,
});

/**
 * POCKETSPHINX_PATH, POCKETSPHINX_MODEL_DIR and MAX_TRANSCRIPTION_SECONDS as the worker reads them;
 * ffmpeg is speech's FFMPEG_PATH.
 */
export function readTranscriptionSettings(read: EnvReader, ffmpegPath: string): Readonly<TranscriptionSettings> {
  return Object.freeze({
    pocketsphinxPath: read.string('POCKETSPHINX_PATH', TRANSCRIPTION_DEFAULTS.pocketsphinxPath, {
      doc:
        'the pocketsphinx recognizer voice agents transcribe with (`/v1/audio/transcriptions`; Debian package ' +
        '`pocketsphinx`)',
    }),
    modelDir: read.string('POCKETSPHINX_MODEL_DIR', TRANSCRIPTION_DEFAULTS.modelDir, {
      doc: "pocketsphinx's US English model: `en-us/`, `en-us.lm.bin`, `cmudict-en-us.dict` (`pocketsphinx-en-us`)",
    }),
    ffmpegPath,
    // A day at most: the cap is there to bound the decoded file, and a day of it is already 2.8 GB.
    maxSeconds: read.integer('MAX_TRANSCRIPTION_SECONDS', TRANSCRIPTION_DEFAULTS.maxSeconds, {
      min: 1,
      max: 86_400,
      doc:
        'the longest audio `/v1/audio/transcriptions` hears with pocketsphinx: a WAV whose header says longer is ' +
        "refused (400 `audio_too_long`), other formats are cut there (1500 s: OpenAI's gpt-4o-transcribe limit)",
    }),
  });
}
