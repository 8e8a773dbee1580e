import t from 'tap';
import { RE2JS } from 're2js';
import { ecmaPatternForRe2 } from '../../workers/providers/ecma-pattern.js';

// A JSON Schema pattern must mean on RE2 what it means to JavaScript (ajv, zod), which clients
// check the same output with: each case is compared with JavaScript's own RegExp (u flag).
const cases: Array<[string, string[]]> = [
  ['^\\S+$', ['a\u00a0b', 'ab', 'a\u2028b', 'a\ufeffb']],
  ['^\\s$', ['\u00a0', '\v', '\ufeff', '\u3000', ' ', 'x']],
  ['^[\\s,]+$', [' ,\u00a0', 'a']],
  ['^[^\\s]+$', ['ab', 'a b', 'a\u00a0b']],
  ['^a.b$', ['axb', 'a\rb', 'a\nb', 'a\u2028b', 'a😀b']],
  ['^[\\u4e00-\\u9fa5]+$', ['中文', 'abc']],
  ['^\\uD83D\\uDE00$', ['😀', '😃']],
  ['^[\\uD83D\\uDE00-\\uD83D\\uDE4F]$', ['😀', '🙏', '🚀']],
  ['^\\u{1F600}$', ['😀']],
  ['^[^]$', ['x', '\n']],
  ['^\\d{3}-\\w+$', ['123-ab_c', '12-x', '١٢٣-x']],
  ['ab', ['xxabyy', 'ba']],
  ['^[\\s\\S]$', ['\n', 'a', '\u00a0']],
  ['^[a\\S]$', ['a', 'b', ' ', '\u00a0']],
  ['^[\\]\\s]+$', [']', ' \u00a0', 'a']],
  ['^\\\\s$', ['\\s', ' ']],
  ['^[.]$', ['.', 'a']],
  ['^\\x41\\.$', ['A.', 'AB']],
  ['^[^\\u0000-\\u007f]+$', ['é', 'a']],
];

// Test names in ASCII: a raw U+2028 would end a line of the TAP output.
const shown = (text: string) => text.replace(/[^\x20-\x7e]/gu, (char) => `\\u{${char.codePointAt(0)!.toString(16)}}`);

t.test('patterns read on RE2 as JavaScript reads them', async (t) => {
  for (const [pattern, inputs] of cases) {
    const re2 = RE2JS.compile(ecmaPatternForRe2(pattern));
    const js = new RegExp(pattern, 'u');
    for (const input of inputs) t.equal(re2.test(input), js.test(input), `${pattern} on ${shown(input)}`);
  }
});

t.test('what RE2 cannot read alike is refused, never read another way', async (t) => {
  t.throws(() => ecmaPatternForRe2('[^\\S\\n]'), /\\S inside a negated character class/);
  for (const pattern of ['(?=a)', '(a)\\1', 'a{1001}'])
    t.throws(() => RE2JS.compile(ecmaPatternForRe2(pattern)), pattern);
});
