/** Image formats told apart by their first bytes: the four OpenAI takes. */
const SIGNATURES: ReadonlyArray<{ mediaType: string; matches(bytes: Buffer): boolean }> = [
  { mediaType: 'image/png', matches: (b) => b.subarray(0, 8).equals(Buffer.from('89504e470d0a1a0a', 'hex')) },
  { mediaType: 'image/jpeg', matches: (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff },
  { mediaType: 'image/gif', matches: (b) => /^GIF8[79]a$/.test(b.toString('latin1', 0, 6)) },
  {
    mediaType: 'image/webp',
    matches: (b) => b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP',
  },
];

/**
 * The media type of an image given as bare base64 (Ollama's `images`, which say none), read from its
 * first bytes. Anything else is labelled PNG, as before: OpenAI takes only these four, and servers
 * that take more (llama.cpp's, vLLM) read the bytes themselves.
 */
export function imageMediaType(base64: string): string {
  // 16 base64 characters are 12 bytes, enough for every signature; line breaks may come first.
  const head = Buffer.from(base64.slice(0, 64).replace(/\s+/g, '').slice(0, 16), 'base64');
  return SIGNATURES.find((signature) => signature.matches(head))?.mediaType ?? 'image/png';
}
