/** What pocketsphinx reads as it is: 16 kHz, mono, 16-bit signed little-endian PCM. */
export const PCM_RATE = 16_000;
export const PCM_BYTES_PER_SECOND = PCM_RATE * 2;

/** A WAV's `fmt ` chunk and where its samples are, as the file itself says. */
export interface WavHeader {
  /** WAVE_FORMAT tag: 1 PCM, 3 float, 0xFFFE extensible; anything else is compressed. */
  format: number;
  channels: number;
  rate: number;
  /** The header's average bytes per second: what a compressed format's length follows. */
  byteRate: number;
  bitsPerSample: number;
  /** Where the samples start. */
  dataOffset: number;
  /** Bytes of samples the file holds: the declared size, at most what is there. */
  dataBytes: number;
}

// A streaming writer cannot go back to fill in the size: 0 or 0xFFFFFFFF then mean "to the end".
const UNKNOWN_SIZES = new Set([0, 0xffffffff]);

/** A WAV's header, or undefined when the file is not RIFF/WAVE or has no `fmt ` before `data`. */
export function readWavHeader(wav: Buffer): WavHeader | undefined {
  if (wav.length < 12 || wav.toString('latin1', 0, 4) !== 'RIFF' || wav.toString('latin1', 8, 12) !== 'WAVE')
    return undefined;
  let offset = 12;
  let fmt: Omit<WavHeader, 'dataOffset' | 'dataBytes'> | undefined;
  while (offset + 8 <= wav.length) {
    const id = wav.toString('latin1', offset, offset + 4);
    const size = wav.readUInt32LE(offset + 4);
    const body = offset + 8;
    if (id === 'fmt ' && body + 16 <= wav.length)
      fmt = {
        format: wav.readUInt16LE(body),
        channels: wav.readUInt16LE(body + 2),
        rate: wav.readUInt32LE(body + 4),
        byteRate: wav.readUInt32LE(body + 8),
        bitsPerSample: wav.readUInt16LE(body + 14),
      };
    else if (id === 'data') {
      if (!fmt) return undefined;
      const present = wav.length - body;
      return { ...fmt, dataOffset: body, dataBytes: UNKNOWN_SIZES.has(size) ? present : Math.min(size, present) };
    }
    // Chunks are padded to an even size.
    offset = body + size + (size % 2);
  }
  return undefined;
}

/**
 * The samples of a WAV that is already 16 kHz mono 16-bit PCM, so the worker feeds them to
 * pocketsphinx without ffmpeg; undefined for any other layout (ffmpeg converts it).
 */
export function pcm16kSamples(wav: Buffer): Buffer | undefined {
  const header = readWavHeader(wav);
  if (!header) return undefined;
  const { format, channels, rate, bitsPerSample, dataOffset, dataBytes } = header;
  if (format !== 1 || channels !== 1 || rate !== PCM_RATE || bitsPerSample !== 16) return undefined;
  return wav.subarray(dataOffset, dataOffset + dataBytes);
}
