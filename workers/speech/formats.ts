import type { SpeechFormat } from '../../bus-schemas/index.js';

/** The HTTP Content-Type of each format (as OpenAI answers). */
export const CONTENT_TYPES: Readonly<Record<SpeechFormat, string>> = Object.freeze({
  wav: 'audio/wav',
  mp3: 'audio/mpeg',
  opus: 'audio/ogg',
  aac: 'audio/aac',
  flac: 'audio/flac',
  pcm: 'audio/pcm',
});

/**
 * ffmpeg's output arguments per format, reading espeak-ng's WAV on stdin; `wav` needs no
 * encoder. `pcm` is OpenAI's: raw 24 kHz 16-bit signed little-endian mono. `aac` is ADTS, as
 * OpenAI's: a stream of self-framed frames, playable (and joinable) without a container index.
 */
export const FFMPEG_OUTPUT: Readonly<Record<Exclude<SpeechFormat, 'wav'>, readonly string[]>> = Object.freeze({
  mp3: ['-c:a', 'libmp3lame', '-b:a', '64k', '-f', 'mp3'],
  opus: ['-ar', '48000', '-c:a', 'libopus', '-b:a', '32k', '-f', 'ogg'],
  aac: ['-c:a', 'aac', '-b:a', '64k', '-f', 'adts'],
  flac: ['-c:a', 'flac', '-f', 'flac'],
  pcm: ['-ar', '24000', '-ac', '1', '-f', 's16le'],
});
