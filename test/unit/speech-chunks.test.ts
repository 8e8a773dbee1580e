import t from 'tap';
import { assertSpeechFrame, SPEECH_CHUNK_BYTES } from '../../bus-schemas/index.js';
import { Chunker } from '../../workers/speech/chunks.js';
import { FrameQueue } from '../../gateway/speech/frame-queue.js';
import { withWavSizes } from '../../gateway/speech/wav-sizes.js';

t.test('the chunker cuts any split of the audio into pieces of the frame size, in order', async (t) => {
  const chunker = new Chunker(4);
  const out = [
    ...chunker.push(Buffer.from('ab')),
    ...chunker.push(Buffer.from('cdefghij')),
    ...chunker.push(Buffer.from('k')),
    ...chunker.flush(),
  ].map((b) => b.toString());
  t.same(out, ['abcd', 'efgh', 'ijk']);
  t.same(chunker.flush(), [], 'nothing left twice');
});

t.test('a full chunk in base64 fits the audio frame schema; one byte more does not', async (t) => {
  const frame = (bytes: number) => ({
    type: 'audio',
    seq: 1,
    request_id: 'speech-1',
    data: Buffer.alloc(bytes).toString('base64'),
  });
  t.ok(assertSpeechFrame(frame(SPEECH_CHUNK_BYTES)));
  t.throws(() => assertSpeechFrame(frame(SPEECH_CHUNK_BYTES + 3)), { code: 'stream_protocol_error' });
  const [chunk] = new Chunker().push(Buffer.alloc(SPEECH_CHUNK_BYTES + 10));
  t.equal(chunk!.length, SPEECH_CHUNK_BYTES);
});

t.test('the frame queue hands frames over in order, then the failure', async (t) => {
  const queue = new FrameQueue<number>();
  queue.push(1);
  t.equal(await queue.next(), 1, 'pushed before it was read');
  const second = queue.next();
  queue.push(2);
  t.equal(await second, 2);
  const pending = queue.next();
  queue.fail(new Error('cancelled'));
  await t.rejects(pending, { message: 'cancelled' });
  await t.rejects(queue.next(), { message: 'cancelled' });
});

t.test('a WAV with pipe placeholder sizes gets its real sizes; other bytes are left alone', async (t) => {
  const header = Buffer.alloc(44);
  header.write('RIFF', 0, 'latin1');
  header.writeUInt32LE(0x7ffff024, 4);
  header.write('WAVEfmt ', 8, 'latin1');
  header.write('data', 36, 'latin1');
  header.writeUInt32LE(0x7ffff000, 40);
  const wav = withWavSizes(Buffer.concat([header, Buffer.alloc(100)]));
  t.equal(wav.readUInt32LE(4), 136);
  t.equal(wav.readUInt32LE(40), 100);
  const mp3 = Buffer.from('ID3 not a wav at all, long enough to look like a header....');
  t.same(withWavSizes(Buffer.from(mp3)), mp3);
});
