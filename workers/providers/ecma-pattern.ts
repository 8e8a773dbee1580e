import { RE2JS } from 're2js';

// What JavaScript's `\s` matches (ECMA-262 WhiteSpace and LineTerminator), as RE2 class members:
// RE2's own `\s` is ASCII only.
const WHITESPACE =
  '\\t\\n\\x0B\\f\\r \\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}\\x{FEFF}';
const NOT_WHITESPACE = `[^${WHITESPACE}]`;
// What JavaScript's `.` matches without the s flag: RE2's also matches \r, U+2028 and U+2029.
const DOT = '[^\\n\\r\\x{2028}\\x{2029}]';

const isHigh = (code: number) => code >= 0xd800 && code <= 0xdbff;
const isLow = (code: number) => code >= 0xdc00 && code <= 0xdfff;
const HEX_ESCAPE = /^\\x\{([0-9A-Fa-f]+)\}/;

/** The `\x{…}` escape at `start`, a surrogate pair joined into the one character it names. */
function hexEscape(source: string, start: number): { text: string; end: number } {
  const first = HEX_ESCAPE.exec(source.slice(start))!;
  const end = start + first[0].length - 1;
  const second = HEX_ESCAPE.exec(source.slice(end + 1));
  const [high, low] = [parseInt(first[1]!, 16), second ? parseInt(second[1]!, 16) : NaN];
  if (!isHigh(high) || !isLow(low)) return { text: first[0], end };
  return {
    text: `\\x{${(0x10000 + (high - 0xd800) * 0x400 + (low - 0xdc00)).toString(16)}}`,
    end: end + second![0].length,
  };
}

/**
 * The escape at `start` (a backslash) as RE2 reads it alike, and where it ends: `\s` as class
 * members inside a class, as a class outside one. `\S` inside a class is its caller's to handle.
 */
function escapeAt(source: string, start: number, inClass: boolean): { text: string; end: number } {
  const next = source[start + 1];
  if (next === 'x' && source[start + 2] === '{') return hexEscape(source, start);
  if (next === 's') return { text: inClass ? WHITESPACE : `[${WHITESPACE}]`, end: start + 1 };
  if (next === 'S') return { text: NOT_WHITESPACE, end: start + 1 };
  return { text: `\\${next ?? ''}`, end: start + 1 };
}

/** The character class opening at `start`, its `\s` and `\S` as JavaScript reads them. */
function characterClass(source: string, start: number): { text: string; end: number } {
  let i = start + 1;
  const negated = source[i] === '^';
  if (negated) i++;
  let members = '';
  let notWhitespace = false;
  for (; i < source.length && source[i] !== ']'; i++) {
    if (source[i] !== '\\') members += source[i];
    else if (source[i + 1] === 'S') {
      notWhitespace = true;
      i++;
    } else {
      const escape = escapeAt(source, i, true);
      members += escape.text;
      i = escape.end;
    }
  }
  if (!notWhitespace) return { text: `[${negated ? '^' : ''}${members}]`, end: i };
  // RE2 cannot put a complement inside a class: [a\S] is (?:[a]|[^\s]), and [^a\S] has no such form.
  if (negated) throw new Error('\\S inside a negated character class is not supported');
  return { text: members ? `(?:[${members}]|${NOT_WHITESPACE})` : NOT_WHITESPACE, end: i };
}

/**
 * A JSON Schema `pattern` (ECMA-262 syntax, read with the u flag as ajv does) in RE2's syntax with
 * the same meaning: re2js's own translation (`\uXXXX`, `\u{…}`, `\cX`, `[^]`, named groups), then
 * `\s`, `\S` and `.` as JavaScript reads them, and a `\uD83D\uDE00` surrogate pair as the one
 * character it names. Throws for what RE2 cannot run alike (`\S` in a negated class); RE2 itself
 * then refuses lookarounds, backreferences, `\p{Letter}` spelled out, repeats above 1000.
 */
export function ecmaPatternForRe2(pattern: string): string {
  const source = RE2JS.translateRegExp(pattern);
  let out = '';
  for (let i = 0; i < source.length; i++) {
    const char = source[i]!;
    if (char === '[') {
      const cls = characterClass(source, i);
      out += cls.text;
      i = cls.end;
    } else if (char === '\\') {
      const escape = escapeAt(source, i, false);
      out += escape.text;
      i = escape.end;
    } else out += char === '.' ? DOT : char;
  }
  return out;
}
