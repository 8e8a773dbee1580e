/**
 * How a vector travels in an embed reply, and how OpenAI's `encoding_format: "base64"` sends it:
 * its float32 values, little-endian, in base64. A quarter of JSON's size, and exact for float32.
 */
export function encodeVector(vector: readonly number[]): string {
  const bytes = Buffer.alloc(vector.length * 4);
  vector.forEach((value, index) => bytes.writeFloatLE(value, index * 4));
  return bytes.toString('base64');
}

/** The numbers of an {@link encodeVector} string. */
export function decodeVector(encoded: string): number[] {
  const bytes = Buffer.from(encoded, 'base64');
  const vector = new Array<number>(bytes.length >> 2);
  for (let index = 0; index < vector.length; index++) vector[index] = bytes.readFloatLE(index * 4);
  return vector;
}
