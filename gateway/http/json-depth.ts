// Character codes the scan compares against (charCodeAt is much cheaper than string compares).
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/**
 * Where JSON text first nests deeper than `maxDepth` (`{}` and `[]` are depth 1), or -1 when it
 * never does. One linear pass without recursion, run BEFORE `JSON.parse`: a 1 MB `[[[[…` is
 * refused in a millisecond, and nothing downstream (secure-json-parse's scan, ajv, the
 * JSON.stringify of the bus envelope, the worker) ever walks a structure deep enough to blow the
 * stack. Brackets inside strings do not count; the text need not be valid JSON (the parser that
 * runs next reports syntax errors).
 */
export function jsonDepthOverflow(text: string, maxDepth: number): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH)
        i++; // the escaped character, a quote included, cannot end the string
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > maxDepth) return i;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
    }
  }
  return -1;
}
