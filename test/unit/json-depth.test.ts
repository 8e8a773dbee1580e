import t from 'tap';
import { jsonDepthOverflow } from '../../gateway/http/json-depth.js';
import { otherCharsetOf, parseUntrustedJson } from '../../gateway/http/parse-json.js';

t.test('the depth scan counts containers, not brackets inside strings', async (t) => {
  t.equal(jsonDepthOverflow('{}', 1), -1);
  t.equal(jsonDepthOverflow('{"a":[]}', 1), 5, 'the offset of the first container too deep');
  t.equal(jsonDepthOverflow('{"a":"[[[[[[[["}', 1), -1, 'brackets in a string do not count');
  t.equal(jsonDepthOverflow('{"a":"\\"[[[["}', 1), -1, 'an escaped quote does not end the string');
  t.equal(jsonDepthOverflow('{"a\\\\":[1]}', 1), 7, 'an escaped backslash does: the [ after it counts');
  t.equal(jsonDepthOverflow('[[],[],[[]]]', 2), 8, 'depth goes back down between siblings');
  t.equal(jsonDepthOverflow('['.repeat(1_000_000), 32), 32, 'a megabyte of [ stops at the limit, without recursion');
});

t.test('parseUntrustedJson: its own code per problem', async (t) => {
  const codeOf = (text: string) => {
    try {
      parseUntrustedJson(text, 4, 'body');
      return 'ok';
    } catch (err) {
      return (err as { code: string }).code;
    }
  };
  t.equal(codeOf('{"a":{"b":[1]}}'), 'ok');
  t.equal(codeOf('\ufeff{"a":1}'), 'ok', 'a BOM is skipped, as fastify did');
  t.equal(codeOf('[[[[[1]]]]]'), 'json_too_deep');
  t.equal(codeOf('{"__proto__":{"x":1}}'), 'forbidden_json_key');
  t.equal(codeOf('{"a":{"constructor":{"prototype":{}}}}'), 'forbidden_json_key');
  t.equal(codeOf('{"constructor":"fine"}'), 'ok');
  t.equal(codeOf(''), 'invalid_json');
  t.equal(codeOf('{"a":'), 'invalid_json');
});

t.test('a charset other than UTF-8 (or its ASCII subset) is named; UTF-8 in any spelling passes', async (t) => {
  t.equal(otherCharsetOf(undefined), undefined);
  t.equal(otherCharsetOf('application/json'), undefined);
  for (const utf8 of ['utf-8', 'UTF-8', '"utf-8"', 'utf8', 'us-ascii', ''])
    t.equal(otherCharsetOf(`application/json; charset=${utf8}`), undefined, utf8);
  t.equal(otherCharsetOf('application/json;charset=ISO-8859-1'), 'iso-8859-1');
  t.equal(otherCharsetOf('application/json; charset="latin1"'), 'latin1');
  t.equal(otherCharsetOf(`application/json; charset=${'x'.repeat(500)}`)?.length, 40, 'cut for the message');
});
