import { RE2JS } from 're2js';

// What JavaScript's `\s` matches (ECMA-262 WhiteSpace and LineTerminator), as RE2 class members:
// RE2's own `\s` is ASCII only.
const WHITESPACE =
  '\\t\\n\\x0B\\f\\r \\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}\\x{FEFF}';
// What JavaScript's `.` matches without the s flag: RE2's also matches \r, U+2028 and U+2029.
const DOT = '[^\\n\\r\\x{2028}\\x{2029}]';

const isHigh = (code: number) => code >= 0xd800 && code <= 0xdbff;
const isLow = (code: number) => code >= 0xdc00 && code <= 0xdfff;

/**
 * A JSON Schema `pattern` (ECMA-262 syntax, read with the u flag as ajv does) in RE2's syntax with
 * the same meaning: re2js's own translation (`\uXXXX`, `\u{…}`, `\cX`, `[^]`, named groups), then
 * `\s`, `\S` and `.` as JavaScript reads them, and a `\uD83D\uDE00` surrogate pair as the one
 * character it names. Throws for what RE2 cannot run alike (`\S` inside a class; RE2 itself then
 * refuses lookarounds, backreferences, `\p{Letter}` spelled out, repeats above 1000).
 */
export function ecmaPatternForRe2(pattern: string): string {
  const source = RE2JS.translateRegExp(pattern);
  let out = '';
  let inClass = false;
  for (let i = 0; i < source.length; i++) {
    const char = source[i]!;
    if (char === '\\') {
      const next = source[i + 1];
      if (next === 's') out += inClass ? WHITESPACE : `[${WHITESPACE}]`;
      else if (next === 'S') {
        if (inClass) throw new Error('\\S inside a character class is not supported');
        out += `[^${WHITESPACE}]`;
      } else if (next === 'x' && source[i + 2] === '{') {
        const end = source.indexOf('}', i);
        const code = parseInt(source.slice(i + 3, end), 16);
        const pair = /^\\x\{([0-9A-Fa-f]+)\}/.exec(source.slice(end + 1));
        const low = pair ? parseInt(pair[1]!, 16) : NaN;
        if (isHigh(code) && isLow(low)) {
          out += `\\x{${(0x10000 + (code - 0xd800) * 0x400 + (low - 0xdc00)).toString(16)}}`;
          i = end + pair![0].length;
        } else {
          out += source.slice(i, end + 1);
          i = end;
        }
        continue;
      } else out += `${char}${next ?? ''}`;
      i++;
      continue;
    }
    if (inClass) {
      if (char === ']') inClass = false;
      out += char;
    } else if (char === '[') {
      inClass = true;
      out += char;
      if (source[i + 1] === '^') out += source[++i]; // negated: its members are rewritten alike
    } else out += char === '.' ? DOT : char;
  }
  return out;
}
