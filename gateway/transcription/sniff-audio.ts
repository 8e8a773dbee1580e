import { AgentbusError, type TranscriptionFormat } from '../../bus-schemas/index.js';

const ascii = (bytes: Buffer, start: number, end: number) => bytes.toString('latin1', start, end);

/** An MPEG audio frame header: 11 sync bits, a layer that is not "reserved". */
const mpegFrame = (b: Buffer) => b.length >= 2 && b[0] === 0xff && (b[1]! & 0xe0) === 0xe0 && (b[1]! & 0x06) !== 0;

/**
 * The container of an upload, from its first bytes (never from the client's file name or
 * Content-Type, which say what it should be, not what it is). Anything else is a 400 naming `file`.
 */
export function sniffAudio(file: Buffer): TranscriptionFormat {
  if (file.length >= 12 && ascii(file, 0, 4) === 'RIFF' && ascii(file, 8, 12) === 'WAVE') return 'wav';
  if (ascii(file, 0, 4) === 'OggS') return 'ogg';
  if (ascii(file, 0, 4) === 'fLaC') return 'flac';
  if (file.length >= 4 && file.readUInt32BE(0) === 0x1a45dfa3) return 'webm';
  if (ascii(file, 0, 3) === 'ID3' || mpegFrame(file)) return 'mp3';
  // ISO base media (mp4, m4a, 3gp): a box whose type is `ftyp` comes first.
  if (file.length >= 12 && ascii(file, 4, 8) === 'ftyp') return 'mp4';
  throw new AgentbusError(
    'audio_file_invalid',
    file.length === 0
      ? 'The file is empty.'
      : 'The file is not audio this server can transcribe. ' +
          'Supported: wav, mp3, ogg (Vorbis or Opus), flac, webm, mp4 or m4a.',
    { param: 'file' },
  );
}
