/**
 * Seeded generators of hostile requests for test/fuzz.test.ts. Each input is derived from
 * (seed, index) alone, so a failing index can be replayed whatever ran before it.
 */

/** mulberry32: a tiny, well-known 32-bit PRNG; enough to spread inputs, not for crypto. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** Helpers over one random stream. */
export class Dice {
  constructor(readonly next: () => number) {}
  int(max: number): number {
    return Math.floor(this.next() * max);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
}

export const dice = (seed: number, index: number) => new Dice(prng((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0));

/** Strings clients should never send, each valid JSON text once escaped by JSON.stringify. */
const ODD_STRINGS = [
  '\ud800',
  '\udfff',
  'a\ud800b',
  '\u0000',
  'nul\u0000in',
  '\u202eevil\u202c',
  '\u200f\u200e',
  '\ufeff',
  '\uffff',
  '\ufffe',
  '😀',
  '👩‍👩‍👧‍👦',
  'e\u0301',
  'Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇',
  '\u2028\u2029',
  '\\',
  '"',
  '</script>',
  '${x}',
  '%s%n',
  'null',
  '',
  '__proto__',
  'constructor',
  'prototype',
  'hasOwnProperty',
  'toString',
  'valueOf',
];
/** Raw byte sequences that are not UTF-8 (overlong forms, stray continuations, surrogates encoded). */
const BAD_BYTES = [
  [0xc0, 0x80],
  [0xe0, 0x80, 0x80],
  [0xed, 0xa0, 0x80],
  [0xff],
  [0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0xc3],
];
const POLLUTERS = ['__proto__', 'constructor', 'prototype'];
const MODELS = ['testing', 'testing', 'testing', 'nope', '', 'TESTING', 'testing ', '../testing', 'auto\u0000'];
const ROLES = ['user', 'system', 'assistant', 'tool', 'developer', 'function', 'robot', '', 'USER'];

export function oddString(d: Dice): string {
  return d.chance(0.7) ? d.pick(ODD_STRINGS) : Array.from({ length: 1 + d.int(6) }, () => d.pick(ODD_STRINGS)).join('');
}

/** A random JSON value of a random type (for "wrong type" mutations). */
export function randomValue(d: Dice, depth = 0): unknown {
  switch (d.int(depth > 2 ? 6 : 8)) {
    case 0:
      return null;
    case 1:
      return d.chance(0.5);
    case 2:
      return d.pick([0, -1, 1.5, 1e308, -1e-308, 2 ** 53 + 1, 3]);
    case 3:
      return oddString(d);
    case 4:
      return 'x'.repeat(d.int(300));
    case 5:
      return d.pick(['0.5', 'true', '[]', '{}']);
    case 6:
      return Array.from({ length: d.int(4) }, () => randomValue(d, depth + 1));
    default:
      return Object.fromEntries(
        Array.from({ length: d.int(4) }, () => [
          d.chance(0.3) ? d.pick(POLLUTERS) : oddString(d),
          randomValue(d, depth + 1),
        ]),
      );
  }
}

/** A valid chat body: the starting point of most mutations. */
export function validChat(d: Dice): Record<string, any> {
  const body: Record<string, any> = {
    model: 'testing',
    messages: [{ role: 'user', content: d.chance(0.8) ? 'hello' : [{ type: 'text', text: 'hello' }] }],
  };
  if (d.chance(0.3)) body['temperature'] = 0.5;
  if (d.chance(0.2))
    body['tools'] = [
      {
        type: 'function',
        function: { name: 'f', parameters: { type: 'object', properties: { a: { type: 'string' } } } },
      },
    ];
  if (d.chance(0.2)) body['stream'] = d.chance(0.5);
  return body;
}

/** Every container in a JSON value, with the path to it (mutations pick one). */
function containers(
  value: unknown,
  out: Array<Record<string, unknown> | unknown[]> = [],
): Array<Record<string, unknown> | unknown[]> {
  if (value !== null && typeof value === 'object') {
    out.push(value as Record<string, unknown>);
    for (const child of Object.values(value)) containers(child, out);
  }
  return out;
}

/** One mutation of a valid body, in place: most make it invalid, a few keep it valid. */
export function mutate(d: Dice, body: Record<string, any>): void {
  const target = d.pick(containers(body));
  const keys = Object.keys(target);
  // An earlier mutation may have removed or replaced the messages: these need a first message.
  if (!Array.isArray(body['messages'])) body['messages'] = [];
  if (body['messages'][0] === null || typeof body['messages'][0] !== 'object') body['messages'][0] = { role: 'user' };
  switch (d.int(12)) {
    case 0:
      if (keys.length) delete (target as any)[d.pick(keys)];
      return;
    case 1:
      if (keys.length) (target as any)[d.pick(keys)] = randomValue(d);
      return;
    case 2:
      body['model'] = d.pick(MODELS);
      return;
    case 3:
      body['messages'][0].role = d.pick(ROLES);
      return;
    case 4:
      body[
        d.pick([
          'temperature',
          'top_p',
          'max_tokens',
          'stop',
          'seed',
          'n',
          'logprobs',
          'tool_choice',
          'response_format',
          'metadata',
          'user',
        ])
      ] = randomValue(d);
      return;
    case 5:
      body['messages'] = d.chance(0.5)
        ? []
        : Array.from({ length: 1 + d.int(1500) }, () => ({ role: 'user', content: 'm' }));
      return;
    case 6:
      body['messages'][0].content = oddString(d);
      return; // usually valid: counted if answered
    case 7: {
      // Pollution keys with JSON.parse semantics: `__proto__` must be an own key, not a setter call.
      const key = d.pick(POLLUTERS);
      Object.defineProperty(target, key, {
        value: key === 'constructor' && d.chance(0.6) ? { prototype: { polluted: true } } : { polluted: true },
        enumerable: true,
        writable: true,
        configurable: true,
      });
      return;
    }
    case 8:
      body['tools'] = Array.from({ length: d.pick([0, 1, 129, 200]) }, (_, i) => ({
        type: 'function',
        function: { name: `f${i % 3}`, parameters: randomValue(d) },
      }));
      return;
    case 9:
      (target as any)[oddString(d)] = randomValue(d);
      return;
    case 10:
      body['messages'][0].content = [
        {
          type: d.pick(['text', 'image_url', 'input_audio', 'file', 'refusal', 'video']),
          ...(randomValue(d) as object),
        },
      ];
      return;
    default:
      body['messages'].push(
        ...Array.from({ length: 1 + d.int(3) }, () => ({ role: d.pick(ROLES), content: randomValue(d) })),
      );
      return;
  }
}

/** JSON text that is not valid JSON, or is valid but malformed in spirit. */
export function malformedJson(d: Dice): string {
  const valid = JSON.stringify(validChat(d));
  switch (d.int(8)) {
    case 0:
      return valid.slice(0, d.int(valid.length));
    case 1:
      return valid.replace(/"/g, "'");
    case 2:
      return valid.replace('}', ',}');
    case 3:
      return `${valid}${d.pick(['x', ',', '{}', ' // c', '\u0000'])}`;
    case 4:
      return d.pick([
        'NaN',
        'Infinity',
        'undefined',
        '{"a":01}',
        '{"a":.5}',
        '{"a":1e}',
        '{"a":"\\x41"}',
        '{"a":"\\u12"}',
        '"',
        '\\',
        '{:}',
        '[,]',
        '{"a" "b"}',
      ]);
    case 5:
      return Array.from({ length: d.int(200) }, () => String.fromCharCode(d.int(128))).join('');
    case 6:
      return d.pick(['null', 'true', '1', '"str"', '[]', '[{}]', '{}', '\ufeff{}', ' \t\n ']);
    default:
      return `{"model":"testing","messages":[{"role":"user","content":"${'\\'.repeat(1 + d.int(3))}"}]}`;
  }
}

/** A deeply nested document, alone or inside a valid body, within `maxBytes`. */
export function deepJson(d: Dice, maxBytes: number): string {
  const depth = d.pick([20, 32, 33, 100, 1000, 50_000, Math.floor(maxBytes / 2)]);
  const open = d.chance(0.5) ? '['.repeat(depth) : '{"a":'.repeat(Math.min(depth, Math.floor(maxBytes / 6)));
  const close = open.startsWith('[') ? ']'.repeat(depth) : '}'.repeat(open.length / 5);
  const inner = `${open}${d.chance(0.8) ? close : ''}`;
  // Where the nesting sits matters: an unknown field is never copied, but a tool's parameters
  // and a response_format schema travel into the bus envelope (JSON.stringify recurses).
  switch (d.int(5)) {
    case 0:
      return inner;
    case 1:
      return `{"model":"testing","messages":[{"role":"user","content":"hi"}],"x":${inner}}`;
    case 2:
      return `{"model":"testing","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"a":${inner}}}}]}`;
    case 3:
      return `{"model":"testing","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema","json_schema":{"name":"n","schema":{"a":${inner}}}}}`;
    default:
      return `{"model":"testing","messages":[{"role":"user","content":[{"type":"text","text":"hi","x":${inner}}]}]}`;
  }
}

/** A body with a huge string in a random place (bounded by `maxBytes`). */
export function hugeString(d: Dice, maxBytes: number): string {
  const size = d.pick([70_000, 200_001, 600_000, maxBytes]);
  const chunk = d.pick(['x', 'é', '😀', '\\u0000', '"']);
  const filler =
    chunk === '"' ? '\\"'.repeat(size / 2) : chunk.repeat(Math.floor(size / Math.max(1, Buffer.byteLength(chunk))));
  const where = d.int(3);
  if (where === 0) return `{"model":"testing","messages":[{"role":"user","content":"${filler}"}]}`;
  if (where === 1) return `{"model":"${filler}","messages":[{"role":"user","content":"hi"}]}`;
  return `{"model":"testing","messages":[{"role":"user","content":"hi"}],"${filler}":1}`;
}

/** Replaces a character of `text` with raw bytes that are not UTF-8. */
export function withBadBytes(d: Dice, text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  const at = d.int(bytes.length + 1);
  return Buffer.concat([bytes.subarray(0, at), Buffer.from(d.pick(BAD_BYTES)), bytes.subarray(at)]);
}

/** A hostile body of one of the families the issue lists; `family` says which, for the report. */
export function hostileBody(d: Dice, maxBytes: number): { family: string; body: string | Buffer } {
  const roll = d.next();
  if (roll < 0.2) return { family: 'malformed', body: malformedJson(d) };
  if (roll < 0.3) return { family: 'deep', body: deepJson(d, maxBytes) };
  if (roll < 0.32) return { family: 'huge', body: hugeString(d, maxBytes) };
  if (roll < 0.4) return { family: 'bad-bytes', body: withBadBytes(d, JSON.stringify(validChat(d))) };
  if (roll < 0.5)
    return {
      family: 'wrong-type',
      body: JSON.stringify({
        ...validChat(d),
        [d.pick(['model', 'messages', 'stream', 'tools', 'temperature'])]: randomValue(d),
      }),
    };
  const body = validChat(d);
  // Almost always at least two mutations: accepted requests stay rare, and each one is counted.
  for (let i = 0, n = 1 + d.int(3); i < n; i++) mutate(d, body);
  return { family: 'mutated', body: JSON.stringify(body) };
}
