import type { SpeechFormat } from '../../bus-schemas/index.js';

// espeak-ng's output, as the worker's WAV carries it (a header only; the samples are none).
const RATE = 22_050;

/** A canonical 44-byte WAV header: mono, 16-bit, no samples. */
function emptyWav(): Buffer {
  const wav = Buffer.alloc(44);
  wav.write('RIFF', 0, 'latin1');
  wav.writeUInt32LE(36, 4);
  wav.write('WAVEfmt ', 8, 'latin1');
  wav.writeUInt32LE(16, 16);
  wav.writeUInt16LE(1, 20); // PCM
  wav.writeUInt16LE(1, 22); // mono
  wav.writeUInt32LE(RATE, 24);
  wav.writeUInt32LE(RATE * 2, 28);
  wav.writeUInt16LE(2, 32);
  wav.writeUInt16LE(16, 34);
  wav.write('data', 36, 'latin1');
  return wav;
}

/** `fLaC` and its one (last) metadata block, STREAMINFO: mono, 16-bit, 0 samples, MD5 unknown. */
function emptyFlac(): Buffer {
  const flac = Buffer.alloc(42);
  flac.write('fLaC', 0, 'latin1');
  flac.writeUInt8(0x80, 4); // the last block, of type 0 (STREAMINFO)
  flac.writeUIntBE(34, 5, 3); // its length
  flac.writeUInt16BE(4096, 8); // min block size
  flac.writeUInt16BE(4096, 10); // max block size; frame sizes stay 0 (unknown)
  // Sample rate (20 bits), channels - 1 (3), bits per sample - 1 (5), total samples (36): all 0 but these.
  flac.writeUInt32BE((RATE << 12) | (0 << 9) | (15 << 4), 18);
  return flac;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, index) => {
  let crc = index << 24;
  for (let bit = 0; bit < 8; bit++) crc = crc & 0x80000000 ? (crc << 1) ^ 0x04c11db7 : crc << 1;
  return crc >>> 0;
});

/** One Ogg page holding one whole packet (under 255 bytes); `flags` 2 opens the stream, 4 ends it. */
function oggPage(packet: Buffer, flags: number, sequence: number): Buffer {
  const page = Buffer.alloc(28 + packet.length);
  page.write('OggS', 0, 'latin1');
  page.writeUInt8(flags, 5);
  page.writeUInt32LE(0x61676e74, 14); // stream serial number: any fixed one
  page.writeUInt32LE(sequence, 18);
  page.writeUInt8(1, 26);
  page.writeUInt8(packet.length, 27);
  packet.copy(page, 28);
  let crc = 0;
  for (const byte of page) crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ byte) & 0xff]!) >>> 0;
  page.writeUInt32LE(crc, 22);
  return page;
}

/** Ogg Opus (RFC 7845) with its two header packets and no audio packet: mono, as the worker's. */
function emptyOpus(): Buffer {
  const head = Buffer.alloc(19);
  head.write('OpusHead', 0, 'latin1');
  head.writeUInt8(1, 8); // version
  head.writeUInt8(1, 9); // channels
  head.writeUInt16LE(312, 10); // pre-skip, libopus's
  head.writeUInt32LE(48_000, 12); // the rate the worker encodes at (formats.ts)
  const vendor = Buffer.from('agentbus', 'latin1');
  const tags = Buffer.alloc(16 + vendor.length);
  tags.write('OpusTags', 0, 'latin1');
  tags.writeUInt32LE(vendor.length, 8);
  vendor.copy(tags, 12);
  return Buffer.concat([oggPage(head, 2, 0), oggPage(tags, 4, 1)]);
}

/**
 * A file of the format holding no sound, for a spoken answer whose text is empty: the speech
 * route refuses empty input, and there is nothing to say, but a client reading `message.audio`
 * gets a file it can open. MP3, ADTS AAC and raw PCM are streams of frames or samples, so none is
 * empty; WAV, FLAC and Ogg Opus are their headers alone.
 */
export function emptyAudio(format: SpeechFormat): Buffer {
  switch (format) {
    case 'wav':
      return emptyWav();
    case 'flac':
      return emptyFlac();
    case 'opus':
      return emptyOpus();
    case 'mp3':
    case 'aac':
    case 'pcm':
      return Buffer.alloc(0);
  }
}
