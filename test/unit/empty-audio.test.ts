import t from 'tap';
import { emptyAudio } from '../../gateway/speech/empty-audio.js';

/** Ogg's CRC-32 bit by bit (polynomial 0x04c11db7, not reflected), apart from the module's table. */
function oggCrc(page: Buffer): number {
  let crc = 0;
  for (const byte of page) {
    crc ^= byte << 24;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x80000000 ? (crc << 1) ^ 0x04c11db7 : crc << 1;
  }
  return crc >>> 0;
}

t.test('streams of frames or samples are empty; WAV and FLAC are their headers alone', async (t) => {
  for (const format of ['mp3', 'aac', 'pcm'] as const) t.equal(emptyAudio(format).length, 0, format);
  const wav = emptyAudio('wav');
  t.equal(wav.length, 44);
  t.same([wav.toString('latin1', 0, 4), wav.readUInt32LE(4), wav.readUInt32LE(40)], ['RIFF', 36, 0]);
  const flac = emptyAudio('flac');
  t.equal(flac.toString('latin1', 0, 4), 'fLaC');
  t.equal(flac.readUInt8(4), 0x80, 'STREAMINFO, the last metadata block');
  t.equal(flac.readUIntBE(5, 3), flac.length - 8);
});

t.test('Ogg Opus: two pages, the head opening the stream and the tags ending it, each with its CRC', async (t) => {
  const ogg = emptyAudio('opus');
  const pages = [ogg.subarray(0, 28 + ogg.readUInt8(27))];
  pages.push(ogg.subarray(pages[0]!.length));
  t.same(
    pages.map((page) => [page.toString('latin1', 0, 4), page.readUInt8(5), page.toString('latin1', 28, 36)]),
    [
      ['OggS', 2, 'OpusHead'],
      ['OggS', 4, 'OpusTags'],
    ],
  );
  for (const page of pages) {
    const blank = Buffer.from(page);
    blank.writeUInt32LE(0, 22);
    t.equal(page.readUInt32LE(22), oggCrc(blank));
    t.equal(page.length, 28 + page.readUInt8(27), 'one segment, the whole page');
  }
});
