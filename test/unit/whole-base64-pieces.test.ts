import t from 'tap';
import { inWholeBase64Pieces } from '../../gateway/speech/whole-base64-pieces.js';

// Streamed audio (chat audio deltas, speech SSE): clients join the deltas' base64 before decoding.

async function* chunksOf(...sizes: number[]): AsyncGenerator<Buffer> {
  let next = 0;
  for (const size of sizes) yield Buffer.from(Array.from({ length: size }, () => next++ % 256));
}

const collect = async (pieces: AsyncIterable<Buffer>) => {
  const out: Buffer[] = [];
  for await (const piece of pieces) out.push(piece);
  return out;
};

t.test('pieces of whole triplets: their base64 joined decodes to the whole audio', async (t) => {
  const sizes = [32768, 32768, 1000, 1, 2, 32768];
  const whole = Buffer.concat(await collect(chunksOf(...sizes)));
  const pieces = await collect(inWholeBase64Pieces(chunksOf(...sizes)));
  for (const piece of pieces.slice(0, -1)) t.equal(piece.length % 3, 0);
  const joined = pieces.map((piece) => piece.toString('base64')).join('');
  t.notOk(joined.slice(0, -2).includes('='), 'only the end may be padded');
  t.same(Buffer.from(joined, 'base64'), whole);
});

t.test('chunks shorter than a triplet are carried, and nothing is lost at the end', async (t) => {
  const pieces = await collect(inWholeBase64Pieces(chunksOf(1, 1, 1, 1)));
  t.same(
    pieces.map((piece) => piece.length),
    [3, 1],
  );
  t.same(await collect(inWholeBase64Pieces(chunksOf())), []);
});
