import t from 'tap';
import { fitToContext } from '../../workers/providers/llama-cpp/context-fit.js';
import { grammarSchema, RESPONSE_FORMAT_SCHEMA } from '../../workers/providers/llama-cpp/grammar-schema.js';
import { anyValue } from '../../workers/providers/llama-cpp/typeless-schema.js';
import { structuredOutputCheck, toolArgumentsCheck } from '../../workers/providers/schema-check.js';
import { gbnfConverter, ruleNames } from '../helpers/gbnf-grammar.js';

// The llama-cpp provider's checks before it generates: the forced call's schema as its grammar
// takes it, and prompt plus answer within the context.

// Any JSON value, as the grammar takes a schema that allows it: `{}`, `true`, only annotations.
const ANY = anyValue();

t.test('a schema in the grammar subset passes; anyOf becomes oneOf; annotations are left out', async (t) => {
  const schema = {
    type: 'object',
    title: 'Weather',
    properties: {
      city: { type: 'string', description: 'where', maxLength: 40 },
      unit: { enum: ['C', 'F'], default: 'C' },
      when: { type: 'string', format: 'date' },
      at: { anyOf: [{ $ref: '#/$defs/Place' }, { type: 'null' }] },
      tags: { type: 'array', items: { type: ['string', 'null'] }, maxItems: 3 },
    },
    required: ['city'],
    additionalProperties: false,
    $defs: { Place: { type: 'object', properties: { lat: { type: 'number' } } } },
  };
  t.same(grammarSchema(schema), {
    type: 'object',
    properties: {
      city: { type: 'string', description: 'where', maxLength: 40 },
      unit: { enum: ['C', 'F'] },
      when: { type: 'string', format: 'date' },
      at: { oneOf: [{ $ref: '#/$defs/Place' }, { type: 'null' }] },
      tags: { type: 'array', items: { type: ['string', 'null'] }, maxItems: 3 },
    },
    required: ['city'],
    additionalProperties: false,
    $defs: { Place: { type: 'object', properties: { lat: { type: 'number' } } } },
  });
});

t.test("rules the grammar cannot hold are left to the check afterwards; draft 7's forms are renamed", async (t) => {
  // zod 4's .int() bounds, .positive(), .email(), z.record, an ISO date's pattern, allOf, not.
  const schema = {
    type: 'object',
    properties: {
      days: { type: 'integer', minimum: -9007199254740991, maximum: 9007199254740991 },
      count: { type: 'number', exclusiveMinimum: 0, multipleOf: 2 },
      mail: { type: 'string', format: 'email' },
      on: { type: 'string', format: 'date', pattern: '^\\d{4}-\\d{2}-\\d{2}$' },
      tags: { type: 'object', propertyNames: { pattern: '^[a-z]+$' }, additionalProperties: { type: 'string' } },
      both: { allOf: [{ $ref: '#/definitions/Place' }] },
      neither: { not: { type: 'string' } },
      pair: { type: 'array', items: [{ type: 'string' }, { type: 'integer' }], additionalItems: false },
    },
    definitions: { Place: { type: 'object', properties: { lat: { type: 'number' } } } },
  };
  t.same(grammarSchema(schema), {
    type: 'object',
    properties: {
      days: { type: 'integer' },
      count: { type: 'number' },
      mail: { type: 'string' },
      on: { type: 'string', format: 'date' },
      tags: { type: 'object', additionalProperties: { type: 'string' } },
      both: ANY,
      neither: ANY,
      pair: { type: 'array', prefixItems: [{ type: 'string' }, { type: 'integer' }], maxItems: 2 },
    },
    $defs: { Place: { type: 'object', properties: { lat: { type: 'number' } } } },
  });
  t.same(
    grammarSchema({ type: 'object', properties: { p: { $ref: '#/definitions/Place' } }, definitions: { Place: {} } }),
    {
      type: 'object',
      properties: { p: { $ref: '#/$defs/Place' } },
      $defs: { Place: ANY },
    },
    'a draft-7 reference points into $defs',
  );
});

t.test("a tuple's rest: a closed tuple caps its length, an open one keeps its schema", async (t) => {
  const pair = [{ type: 'string' }, { type: 'number' }];
  const arrays: Array<[string, Record<string, unknown>, Record<string, unknown>]> = [
    // zod 4's z.tuple([z.string(), z.number()]) (draft 2020-12).
    [
      'closed (zod 4)',
      { type: 'array', prefixItems: pair, items: false, minItems: 2, maxItems: 2 },
      { type: 'array', prefixItems: pair, minItems: 2, maxItems: 2 },
    ],
    ['closed, no maxItems', { prefixItems: pair, items: false }, { type: 'array', prefixItems: pair, maxItems: 2 }],
    [
      'closed below a larger maxItems',
      { prefixItems: pair, items: false, maxItems: 5 },
      { type: 'array', prefixItems: pair, maxItems: 2 },
    ],
    ['no items at all', { type: 'array', items: false }, { type: 'array', maxItems: 0 }],
    ['any rest', { prefixItems: pair, items: true }, { type: 'array', prefixItems: pair }],
    [
      'a rest schema (zod 4 .rest())',
      { prefixItems: pair, items: { type: 'boolean' } },
      { type: 'array', prefixItems: pair, items: { type: 'boolean' } },
    ],
    [
      "draft 7's rest schema",
      { items: pair, additionalItems: { type: 'boolean' } },
      { type: 'array', prefixItems: pair, items: { type: 'boolean' } },
    ],
    ["draft 7's any rest", { items: pair, additionalItems: true }, { type: 'array', prefixItems: pair }],
  ];
  for (const [what, array, expected] of arrays)
    t.same(
      grammarSchema({ type: 'object', properties: { p: array } }),
      { type: 'object', properties: { p: expected } },
      what,
    );
  t.throws(
    () => grammarSchema({ type: 'object', properties: { p: { prefixItems: pair, items: false, minItems: 3 } } }),
    { param: 'tools', message: /minItems 3 above the 2 items a closed tuple holds \(at properties\.p\)/ },
    'a closed tuple shorter than its minItems holds no value',
  );
  // Named as the client wrote them, not as node-llama-cpp's form renames them.
  const draft7 = [
    [{ items: [{ type: 'float' }], additionalItems: false }, /the type "float" \(at properties\.p\.items\.0\.type\)/],
    [{ items: pair, additionalItems: { type: 'float' } }, /\(at properties\.p\.additionalItems\.type\)/],
  ] as const;
  for (const [array, message] of draft7)
    t.throws(() => grammarSchema({ type: 'object', properties: { p: array } }), { message }, message.source);
});

t.test('a boolean schema: true is any value wherever a schema goes; false leaves out what it can', async (t) => {
  // zod's z.any()/z.unknown() in some modes, and OpenAI takes them. Each its own subtest: one refused
  // case does not hide the others.
  const held: Array<[string, Record<string, unknown>, Record<string, unknown>]> = [
    ['a property true', { properties: { p: true } }, { properties: { p: ANY } }],
    [
      'items true: any items',
      { properties: { p: { type: 'array', items: true } } },
      { properties: { p: { type: 'array' } } },
    ],
    [
      "a draft 7 tuple's item true",
      { properties: { p: { items: [true, { type: 'string' }], additionalItems: false } } },
      { properties: { p: { type: 'array', prefixItems: [ANY, { type: 'string' }], maxItems: 2 } } },
    ],
    [
      'a prefixItems entry true',
      { properties: { p: { prefixItems: [true] } } },
      { properties: { p: { type: 'array', prefixItems: [ANY] } } },
    ],
    [
      'an anyOf member true',
      { properties: { p: { anyOf: [true, { type: 'null' }] } } },
      { properties: { p: { oneOf: [ANY, { type: 'null' }] } } },
    ],
    [
      'a oneOf member false, a branch no value takes',
      { properties: { p: { oneOf: [{ type: 'string' }, false] } } },
      { properties: { p: { oneOf: [{ type: 'string' }] } } },
    ],
    [
      'a definition true',
      { properties: { p: { $ref: '#/$defs/free' } }, $defs: { free: true } },
      { properties: { p: { $ref: '#/$defs/free' } }, $defs: { free: ANY } },
    ],
    [
      'a property false, not required: left out',
      { properties: { a: { type: 'string' }, gone: false }, required: ['a'] },
      { properties: { a: { type: 'string' } }, required: ['a'] },
    ],
  ];
  for (const [what, schema, expected] of held)
    t.test(what, async (t) => t.same(grammarSchema({ type: 'object', ...schema }), { type: 'object', ...expected }));
  const refused: Array<[string, Record<string, unknown>, RegExp]> = [
    [
      'a required property false',
      { properties: { a: { type: 'string' }, b: false }, required: ['a', 'b'] },
      /the required property "b", whose schema false no value satisfies \(at required\)/,
    ],
    [
      'a nested required property false',
      { properties: { p: { type: 'object', properties: { b: false }, required: ['b'] } } },
      /the required property "b", .*\(at properties\.p\.required\)/,
    ],
    [
      'only false members',
      { properties: { a: { anyOf: [false, false] } } },
      /only the schema false.*\(at properties\.a\.anyOf\)/,
    ],
    [
      'a prefixItems entry false',
      { properties: { a: { prefixItems: [{}, false] } } },
      /the schema false, .*\(at properties\.a\.prefixItems\.1\)/,
    ],
    [
      "a draft 7 tuple's item false",
      { properties: { a: { items: [false] } } },
      /the schema false, .*\(at properties\.a\.items\.0\)/,
    ],
    ['a definition false', { $defs: { none: false } }, /the schema false, .*\(at \$defs\.none\)/],
  ];
  for (const [what, schema, message] of refused)
    t.test(what, async (t) =>
      t.throws(() => grammarSchema({ type: 'object', ...schema }), {
        code: 'invalid_request',
        param: 'tools',
        message,
      }),
    );
});

t.test('a schema without a type: any value, or the type its keywords constrain', async (t) => {
  // node-llama-cpp writes only null for a schema without a type; JSON Schema takes any value there.
  const string = { type: 'string' };
  const cases: Array<[string, unknown, Record<string, unknown>]> = [
    ['{} (z.any(), z.unknown())', {}, ANY],
    ['true', true, ANY],
    ['only annotations', { description: 'anything', title: 'Any' }, { description: 'anything', ...ANY }],
    ['properties', { properties: { a: string } }, { type: 'object', properties: { a: string } }],
    [
      'required and additionalProperties',
      { properties: { a: {} }, required: ['a'], additionalProperties: { type: 'number' } },
      { type: 'object', properties: { a: ANY }, required: ['a'], additionalProperties: { type: 'number' } },
    ],
    [
      'items and minItems',
      { items: { type: 'integer' }, minItems: 1 },
      { type: 'array', items: { type: 'integer' }, minItems: 1 },
    ],
    ["a string's rules", { maxLength: 3, pattern: '^a' }, { type: 'string', maxLength: 3 }],
    ["a number's rules", { minimum: 0 }, { type: 'number' }],
    [
      'keywords of two types: a branch of each, with its own',
      { description: 'd', properties: { a: string }, minItems: 1 },
      {
        description: 'd',
        oneOf: [
          { type: 'object', properties: { a: string } },
          { type: 'array', minItems: 1 },
        ],
      },
    ],
    ['enum: as it is', { enum: ['a', 1] }, { enum: ['a', 1] }],
    ['const: as it is', { const: 'a' }, { const: 'a' }],
    ['anyOf: its branches', { anyOf: [string, {}] }, { oneOf: [string, ANY] }],
  ];
  for (const [what, schema, expected] of cases)
    t.same(
      grammarSchema({ type: 'object', properties: { p: schema } }),
      { type: 'object', properties: { p: expected } },
      what,
    );
  t.same(grammarSchema({}, RESPONSE_FORMAT_SCHEMA), ANY, 'a root of any value');
  t.same(
    grammarSchema({ properties: { a: string } }, RESPONSE_FORMAT_SCHEMA),
    { type: 'object', properties: { a: string } },
    'a root object',
  );
});

t.test('an object that names no property takes any; one with properties, even none, keeps to them', async (t) => {
  // node-llama-cpp writes only `{}` for an object without properties or additionalProperties.
  const open = { type: 'object', additionalProperties: true };
  const cases: Array<[string, Record<string, unknown>, Record<string, unknown>]> = [
    ['a free-form object', { type: 'object' }, open],
    ['with a description', { type: 'object', description: 'd' }, { ...open, description: 'd' }],
    ['implied by minProperties', { minProperties: 1 }, { ...open, minProperties: 1 }],
    [
      'a branch of an implied pair',
      { minProperties: 1, minItems: 1 },
      {
        oneOf: [
          { ...open, minProperties: 1 },
          { type: 'array', minItems: 1 },
        ],
      },
    ],
    ['no properties: no arguments', { type: 'object', properties: {} }, { type: 'object', properties: {} }],
    ['closed', { type: 'object', additionalProperties: false }, { type: 'object', additionalProperties: false }],
  ];
  for (const [what, schema, expected] of cases)
    t.same(
      grammarSchema({ type: 'object', properties: { p: schema } }),
      { type: 'object', properties: { p: expected } },
      what,
    );
  t.same(grammarSchema({ type: 'object' }), open, 'a root of any object');
});

const convert = await gbnfConverter();
t.test(
  "node-llama-cpp's grammar for a schema without a type writes more than null",
  { skip: convert ? false : 'node-llama-cpp is not installed' },
  async (t) => {
    const gbnf = (schema: Record<string, unknown>) => convert!(grammarSchema(schema, RESPONSE_FORMAT_SCHEMA));
    const scalars = ['string-rule', 'fractional-number-rule', 'boolean-rule', 'null-rule'];
    for (const [what, schema] of [
      ['{}', {}],
      ['a property true', { type: 'object', properties: { p: true }, required: ['p'] }],
      ['a free-form object', { type: 'object', properties: { p: { type: 'object' } }, required: ['p'] }],
    ] as const) {
      const rules = ruleNames(gbnf(schema));
      t.same(
        scalars.filter((rule) => !rules.has(rule)),
        [],
        `${what}: a string, a number, a boolean or null`,
      );
      // One recursive rule writes an object's or an array's values, to any depth.
      t.ok(
        [...rules].some((rule) => rule.startsWith('any-json')),
        `${what}: or an object or array of any values`,
      );
    }
    t.match(
      gbnf({ properties: { a: { type: 'string' } } }),
      /^root ::= "\{" .*"\\"a\\"" ":" \[ \]\? string-rule/,
      'an object',
    );
  },
);

t.test('what the grammar could never write is a 400 on tools naming it and where', async (t) => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ type: 'object', properties: { a: { enum: [] } } }, /enum that lists no value/],
    [{ type: 'object', properties: { a: { $ref: 'https://example.com/s.json' } } }, /reference "https:/],
    [{ type: 'object', properties: { a: { type: ['object', 'null'] } } }, /list of types/],
    [{ type: 'object', properties: { a: { anyOf: [], oneOf: [] } } }, /both anyOf and oneOf/],
    [{ type: 'object', properties: { a: 3 } }, /3 where a schema object belongs/],
    [{ type: 'object', properties: { a: { type: 'float' } } }, /the type "float"/],
    [{ type: 'object', properties: { a: { $ref: '#/$defs/Nope' } } }, /"#\/\$defs\/Nope", which no \$defs defines/],
    [{ type: 'object', properties: { a: { type: 'string' } }, required: ['a', 'b'] }, /"b", which properties lacks/],
    [{ type: 'object', properties: { a: { type: 'array', minItems: 3, maxItems: 1 } } }, /minItems 3 above maxItems 1/],
    [{ type: 'object', properties: { a: { type: 'string', minLength: -1 } } }, /minLength -1, not a count/],
    [{ type: 'object', properties: { a: { type: 'array', maxItems: '2' } } }, /maxItems "2", not a count/],
    [{ type: 'object', properties: { a: { type: 'string' } }, required: 'a' }, /not a list of property names/],
    // It writes every listed property, and others only where additionalProperties allows them.
    [{ type: 'object', properties: { a: {}, b: {} }, maxProperties: 1 }, /maxProperties 1 below the 2 properties/],
    [{ type: 'object', properties: { a: {} }, minProperties: 2 }, /minProperties 2 above the 1 properties/],
    // References that only lead back to themselves describe no value (the converter recursed forever).
    [
      { type: 'object', $defs: { a: { $ref: '#/$defs/a' } }, properties: { x: { $ref: '#/$defs/a' } } },
      /from "#\/\$defs\/a" leads back to itself .*\(at \$defs\.a\)/,
    ],
    [
      { type: 'object', $defs: { a: { $ref: '#/$defs/b' }, b: { $ref: '#/$defs/a' } }, properties: { x: {} } },
      /leads back to itself/,
    ],
  ];
  for (const [schema, message] of cases)
    t.throws(() => grammarSchema(schema), { code: 'invalid_request', param: 'tools', message }, message.source);
  t.throws(() => grammarSchema(cases[0]![0], RESPONSE_FORMAT_SCHEMA), {
    param: 'response_format',
    message:
      /^The llama-cpp provider cannot hold the model to response_format's schema: an enum .* \(at properties\.a\.enum\)\./,
  });
});

t.test('a strict structured output is checked against its whole schema once written', async (t) => {
  const check = structuredOutputCheck({
    type: 'object',
    properties: { a: { type: 'string', pattern: '^[0-9]+$' } },
    required: ['a'],
  });
  t.doesNotThrow(() => check('{"a": "42"}'));
  t.throws(() => check('{"a": "x"}'), {
    code: 'invalid_request',
    param: 'response_format',
    message: /\(a must match pattern "\^\[0-9\]\+\$"\)/,
  });
  t.throws(() => check('{"a": '), { param: 'response_format', message: /not JSON/ });
});

t.test('patterns run in linear time: a backtracking one is checked at once', async (t) => {
  const check = toolArgumentsCheck('f', { type: 'object', properties: { k: { type: 'string', pattern: '^(a|a)*$' } } });
  // With JavaScript's RegExp this takes minutes (2^40 paths); RE2 reads the string once.
  t.throws(() => check({ k: `${'a'.repeat(40)}!` }), { param: 'tools', message: /arguments\.k must match pattern/ });
  t.doesNotThrow(() => check({ k: 'aaaa' }));
});

t.test('a schema that cannot be checked is a 400 before the model runs, naming what', async (t) => {
  for (const pattern of ['(?=a)', '\\-x(']) {
    const schema = { type: 'object', properties: { k: { type: 'string', pattern } } };
    t.throws(() => toolArgumentsCheck('f', schema), {
      param: 'tools',
      message: /^The parameter schema of function "f" cannot be checked: the pattern .* cannot be checked: /,
    });
    t.throws(() => structuredOutputCheck(schema), { param: 'response_format', message: /cannot be checked/ });
  }
});

t.test("$schema picks the draft; $id stays the request's own", async (t) => {
  // zod 4 and LangChain name draft 2020-12; its prefixItems must be checked, not skipped.
  const check = structuredOutputCheck({
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    type: 'object',
    properties: { code: { type: 'string', pattern: '^[0-9]{3}$' }, pair: { prefixItems: [{ type: 'integer' }] } },
    required: ['code'],
  });
  t.throws(() => check('{"code": "abc"}'), { message: /code must match pattern/ });
  t.throws(() => check('{"code": "123", "pair": ["x"]}'), { message: /pair\[0\] must be an integer/ });
  t.doesNotThrow(() => check('{"code": "123", "pair": [1]}'));
  // Two different schemas with one $id (two clients): each is checked against its own rules.
  const first = structuredOutputCheck({
    $id: 'urn:shared',
    type: 'object',
    properties: { zip: { pattern: '^[0-9]{5}$' } },
  });
  const second = structuredOutputCheck({
    $id: 'urn:shared',
    type: 'object',
    properties: { zip: { pattern: '^[a-z]+$' } },
  });
  t.throws(() => first('{"zip": "abc"}'), { message: /zip must match pattern/ });
  t.throws(() => second('{"zip": "12345"}'), { message: /zip must match pattern/ });
});

t.test('a $ref through the root $id resolves; an $id that is no URI is left out', async (t) => {
  const check = structuredOutputCheck({
    $id: 'https://example.com/p.json',
    type: 'object',
    properties: { x: { $ref: 'https://example.com/p.json#/$defs/x' } },
    $defs: { x: { type: 'integer' } },
  });
  t.throws(() => check('{"x": "a"}'), { message: /x must be an integer/ });
  t.doesNotThrow(() => structuredOutputCheck({ $id: 'urn:shared', type: 'object' })('{}'));
});

t.test('the engines are replaced as compiled schemas turn over, and still check', async (t) => {
  const checks = Array.from({ length: 600 }, (_, i) =>
    toolArgumentsCheck('f', { type: 'object', properties: { [`p${i}`]: { type: 'integer' } } }),
  );
  t.throws(() => checks[0]!({ p0: 'x' }), { message: /p0 must be an integer/ }, 'one compiled by the first engines');
  t.throws(() => checks[599]!({ p599: 'x' }), { message: /p599 must be an integer/ });
});

t.test('date, time and date-time are checked, with or without an offset', async (t) => {
  const check = structuredOutputCheck({
    type: 'object',
    allOf: [{ properties: { d: { format: 'date' }, t: { format: 'time' }, dt: { format: 'date-time' } } }],
  });
  t.doesNotThrow(() => check('{"d": "2026-12-04", "t": "10:00:00", "dt": "2026-12-04T10:00:00"}'));
  t.doesNotThrow(() => check('{"t": "10:00:00Z", "dt": "2026-12-04T10:00:00+01:00"}'));
  t.throws(() => check('{"d": "a story"}'), { message: /d must match format "date"/ });
});

const fit = {
  promptTokens: 1000,
  requested: undefined,
  maxTokens: 512,
  contextSize: 4096,
  setting: 4096,
  file: 'm.gguf',
};

t.test('prompt and answer within the context: the limit shrinks to the room a client did not set', async (t) => {
  t.equal(fitToContext(fit), 512);
  t.equal(fitToContext({ ...fit, promptTokens: 3900 }), 196, 'LLAMA_CPP_MAX_TOKENS shrinks to the room left');
  t.equal(fitToContext({ ...fit, maxTokens: undefined }), 3096, 'no cap at all: the room left');
  t.equal(fitToContext({ ...fit, requested: 3096, maxTokens: 3096 }), 3096, "the client's own, when it fits");
});

t.test('a prompt that fills the context, or a max_tokens it cannot hold: 400 context_length_exceeded', async (t) => {
  t.throws(() => fitToContext({ ...fit, promptTokens: 120_158 }), {
    code: 'context_length_exceeded',
    param: 'messages',
    message: /120158 tokens, and the context of m\.gguf holds 4096 tokens \(LLAMA_CPP_CONTEXT_SIZE\)/,
  });
  t.throws(() => fitToContext({ ...fit, promptTokens: 2048, contextSize: 2048, setting: 4096 }), {
    message: /holds 2048 tokens \(its own size, below LLAMA_CPP_CONTEXT_SIZE 4096\)/,
  });
  t.throws(() => fitToContext({ ...fit, requested: 1e12, maxTokens: 1e12 }), {
    code: 'context_length_exceeded',
    message: /\(1000 in the messages, 1000000000000 in the completion\).*max_tokens/,
  });
  // The tools' documentation is what overflows: it is named, and the param is tools.
  t.throws(() => fitToContext({ ...fit, promptTokens: 5000, toolTokens: 4800 }), {
    code: 'context_length_exceeded',
    param: 'tools',
    message: /5000 tokens \(4800 of them the tools' documentation\).*without the tools it would fit; send fewer tools/,
  });
  t.throws(() => fitToContext({ ...fit, promptTokens: 5000, toolTokens: 100 }), {
    param: 'messages',
    message: /\(100 of them the tools' documentation\).*send fewer or shorter messages/,
  });
});

t.test('a recursive definition that describes a value at each step (a tree) is held', async (t) => {
  const tree = {
    type: 'object',
    $defs: { node: { type: 'object', properties: { child: { $ref: '#/$defs/node' } } } },
    properties: { root: { $ref: '#/$defs/node' } },
  };
  t.doesNotThrow(() => grammarSchema(tree));
});
