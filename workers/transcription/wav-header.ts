/** What pocketsphinx reads as it is: 16 kHz, mono, 16-bit signed little-endian PCM. */
export const PCM_RATE = 16_000;
export const PCM_BYTES_PER_SECOND = PCM_RATE * 2;

/**
 * Where the samples of a WAV start when they are already 16 kHz mono 16-bit PCM, so the worker
 * feeds them to pocketsphinx without ffmpeg; undefined for any other layout (ffmpeg converts it).
 */
export function pcm16kDataOffset(wav: Buffer): number | undefined {
  if (wav.length < 12 || wav.toString('latin1', 0, 4) !== 'RIFF' || wav.toString('latin1', 8, 12) !== 'WAVE')
    return undefined;
  let offset = 12;
  let plain = false;
  while (offset + 8 <= wav.length) {
    const id = wav.toString('latin1', offset, offset + 4);
    const size = wav.readUInt32LE(offset + 4);
    const body = offset + 8;
    if (id === 'fmt ' && body + 16 <= wav.length) {
      const format = wav.readUInt16LE(body);
      plain =
        format === 1 &&
        wav.readUInt16LE(body + 2) === 1 &&
        wav.readUInt32LE(body + 4) === PCM_RATE &&
        wav.readUInt16LE(body + 14) === 16;
    } else if (id === 'data') return plain ? body : undefined;
    // Chunks are padded to an even size.
    offset = body + size + (size % 2);
  }
  return undefined;
}
