import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Where Debian's `pocketsphinx-testdata` puts its recordings (installed by `npm test`'s pretest). */
export const TESTDATA_DIR = '/usr/share/pocketsphinx/test/data';
export const HOW_TO_INSTALL_TESTDATA =
  'Install it with "apt-get install pocketsphinx-testdata" (npm test does, as root).';

/** A WAV around raw 16 kHz mono 16-bit samples (`goforward.raw` is headerless). */
export function wavOf(pcm: Buffer, rate = 16_000): Buffer {
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'latin1');
  header.writeUInt32LE(36 + pcm.length, 4);
  header.write('WAVEfmt ', 8, 'latin1');
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(1, 22); // mono
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rate * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36, 'latin1');
  header.writeUInt32LE(pcm.length, 40);
  return Buffer.concat([header, pcm]);
}

/** "go forward ten meters", as a WAV. */
export const goForwardWav = (): Buffer => wavOf(readFileSync(join(TESTDATA_DIR, 'goforward.raw')));

/** The five LibriVox clips and what is said in each (`librivox/transcription`, sentence marks dropped). */
export function librivoxClips(): Array<{ id: string; file: string; reference: string }> {
  const dir = join(TESTDATA_DIR, 'librivox');
  return readFileSync(join(dir, 'transcription'), 'utf8')
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => {
      const match = /^(.*)\(([^)]+)\)\s*$/.exec(line.trim());
      if (!match) throw new Error(`unexpected line in librivox/transcription: ${line}`);
      const reference = match[1]!
        .replace(/<\/?s>/g, ' ')
        .replace(/\s+/g, ' ')
        .trim();
      return { id: match[2]!, file: join(dir, `${match[2]!}.wav`), reference };
    });
}
