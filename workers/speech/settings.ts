import type { EnvReader } from '../../common/env.js';

/** Where the worker finds its speech engine and its encoder. */
export interface SpeechSettings {
  /** espeak-ng, the engine (Debian's `espeak-ng`). */
  espeakPath: string;
  /** ffmpeg, the encoder of every format but `wav` (Debian's `ffmpeg`). */
  ffmpegPath: string;
}

/** The binaries on PATH, when nothing is configured. */
export const SPEECH_DEFAULTS: Readonly<SpeechSettings> = Object.freeze({
  espeakPath: 'espeak-ng',
  ffmpegPath: 'ffmpeg',
});

/** ESPEAK_NG_PATH and FFMPEG_PATH, as the worker reads them. */
export function readSpeechSettings(read: EnvReader): Readonly<SpeechSettings> {
  return Object.freeze({
    espeakPath: read.string('ESPEAK_NG_PATH', 'espeak-ng', {
      doc: 'the espeak-ng binary voice agents speak with (`/v1/audio/speech`; Debian package `espeak-ng`)',
    }),
    ffmpegPath: read.string('FFMPEG_PATH', 'ffmpeg', {
      doc:
        'the ffmpeg binary that encodes speech as mp3, opus, aac, flac or pcm (Debian package `ffmpeg`); ' +
        'wav needs none',
    }),
  });
}
