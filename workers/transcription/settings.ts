import type { EnvReader } from '../../common/env.js';

/** Where the worker finds its transcription engine, its US English model and its decoder. */
export interface TranscriptionSettings {
  /** pocketsphinx's command-line recognizer (Debian's `pocketsphinx`). */
  pocketsphinxPath: string;
  /** The acoustic model, language model and dictionary (Debian's `pocketsphinx-en-us`). */
  modelDir: string;
  /** ffmpeg, which turns every upload but 16 kHz mono 16-bit WAV into what pocketsphinx reads. */
  ffmpegPath: string;
}

/** Debian's paths, when nothing is configured. */
export const TRANSCRIPTION_DEFAULTS: Readonly<TranscriptionSettings> = Object.freeze({
  pocketsphinxPath: 'pocketsphinx_continuous',
  modelDir: '/usr/share/pocketsphinx/model/en-us',
  ffmpegPath: 'ffmpeg',
});

/** POCKETSPHINX_PATH and POCKETSPHINX_MODEL_DIR as the worker reads them; ffmpeg is speech's FFMPEG_PATH. */
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
  });
}
