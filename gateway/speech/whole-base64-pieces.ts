/**
 * `audio` in pieces whose lengths are multiples of three bytes, but for the last: each piece's
 * base64 then ends without `=` padding, so the pieces' base64 joined in order is the base64 of the
 * whole file, as a client that concatenates OpenAI's audio deltas expects. A 32 KiB bus chunk
 * (32,768 bytes, not a multiple of three) sent as it came ended in padding, and a decoder of the
 * joined text stopped at the first `=`.
 */
export async function* inWholeBase64Pieces(audio: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let carried: Buffer | undefined;
  for await (const chunk of audio) {
    const bytes = carried ? Buffer.concat([carried, chunk]) : chunk;
    const whole = bytes.length - (bytes.length % 3);
    carried = whole < bytes.length ? bytes.subarray(whole) : undefined;
    if (whole > 0) yield bytes.subarray(0, whole);
  }
  if (carried) yield carried;
}
