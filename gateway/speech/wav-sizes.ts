/**
 * A streamed WAV (espeak-ng's on a pipe) carries placeholder sizes, since they are unknown when
 * its header is written. Once the whole file is at hand, the real sizes go in, so players that
 * trust them (and SDKs reading `duration`) see the true length. Other layouts are left alone.
 */
export function withWavSizes(wav: Buffer): Buffer {
  const canonical =
    wav.length >= 44 &&
    wav.toString('latin1', 0, 4) === 'RIFF' &&
    wav.toString('latin1', 8, 12) === 'WAVE' &&
    wav.toString('latin1', 36, 40) === 'data';
  if (!canonical) return wav;
  wav.writeUInt32LE(wav.length - 8, 4);
  wav.writeUInt32LE(wav.length - 44, 40);
  return wav;
}
