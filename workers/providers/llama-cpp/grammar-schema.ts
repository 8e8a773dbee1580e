import { AgentbusError } from '../../../bus-schemas/index.js';

// What node-llama-cpp's JSON Schema grammars hold the output to (3.x, utils/gbnfJson/types.d.ts).
// Any other keyword it drops without a word, so a forced call could break the schema its client
// relies on (a pattern, a minimum): such a schema is refused instead.
const KEPT = new Set([
  'type',
  'properties',
  'required',
  'additionalProperties',
  'minProperties',
  'maxProperties',
  'items',
  'prefixItems',
  'minItems',
  'maxItems',
  'minLength',
  'maxLength',
  'format',
  'enum',
  'const',
  'oneOf',
  '$ref',
  '$defs',
]);
// Keywords that say nothing about what is valid: left out of the grammar's schema.
const ANNOTATIONS = new Set([
  'description',
  'title',
  'default',
  'examples',
  '$schema',
  '$id',
  '$comment',
  'deprecated',
  'readOnly',
  'writeOnly',
]);
const FORMATS = new Set(['date-time', 'time', 'date']);
const SCALAR_TYPES = new Set(['string', 'number', 'integer', 'boolean', 'null']);
const TYPES = new Set([...SCALAR_TYPES, 'object', 'array']);
// Counts, each a non-negative integer, and the lower bound of each pair no more than its upper.
const BOUNDS = [
  ['minLength', 'maxLength'],
  ['minItems', 'maxItems'],
  ['minProperties', 'maxProperties'],
] as const;
const COUNTS = new Set<string>(BOUNDS.flat());

type Schema = Record<string, unknown>;

const isSchema = (value: unknown): value is Schema =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const isScalar = (value: unknown) => value === null || ['string', 'number', 'boolean'].includes(typeof value);

function refuse(path: string, why: string): never {
  throw new AgentbusError(
    'invalid_request',
    "The llama-cpp provider cannot hold the model to this tool's parameter schema: " +
      `${why} (at ${path || 'its root'}). ` +
      "node-llama-cpp's grammars take type, properties, required, additionalProperties, items, prefixItems, " +
      'enum, const, oneOf or anyOf, $ref to $defs, the min/max counts and lengths, and the formats date, time ' +
      'and date-time. Simplify the schema, or ask an agent on Ollama or an OpenAI-compatible server.',
    { param: 'tools' },
  );
}

const at = (path: string, key: string | number) => (path ? `${path}.${key}` : String(key));

function schemaList(value: unknown, path: string): Schema[] {
  if (!Array.isArray(value) || value.length === 0) refuse(path, 'an empty or missing list of schemas');
  return value.map((item, i) => grammarSchemaAt(item, at(path, i)));
}

function schemaMap(value: unknown, path: string): Schema {
  if (!isSchema(value)) refuse(path, 'not an object of schemas');
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, grammarSchemaAt(item, at(path, key))]));
}

/** One keyword of a schema, as node-llama-cpp takes it; refuses what it would drop. */
function keyword(key: string, value: unknown, path: string): unknown {
  switch (key) {
    case 'properties':
    case '$defs':
      return schemaMap(value, path);
    case 'items':
      return grammarSchemaAt(value, path);
    case 'additionalProperties':
      return typeof value === 'boolean' ? value : grammarSchemaAt(value, path);
    case 'prefixItems':
    case 'oneOf':
      return schemaList(value, path);
    case 'enum':
      if (!Array.isArray(value) || value.length === 0) refuse(path, 'an enum that lists no value');
      if (!value.every(isScalar)) refuse(path, 'an enum of objects or arrays');
      return value;
    case 'const':
      if (!isScalar(value)) refuse(path, 'a const object or array');
      return value;
    case 'format':
      if (!FORMATS.has(value as string)) refuse(path, `the format ${JSON.stringify(value)}`);
      return value;
    case '$ref':
      if (typeof value !== 'string' || !/^#\/\$defs\/[^/]+$/.test(value))
        refuse(path, `the reference ${JSON.stringify(value)}, which is not "#/$defs/<name>"`);
      return value;
    case 'type':
      // A list of types is taken for scalars only; an optional object is a oneOf with null.
      if (Array.isArray(value)) {
        if (!value.every((type) => SCALAR_TYPES.has(type as string)))
          refuse(path, `the list of types ${JSON.stringify(value)} (only of scalar types; else write anyOf)`);
      } else if (!TYPES.has(value as string)) refuse(path, `the type ${JSON.stringify(value)}`);
      return value;
    case 'required':
      if (!Array.isArray(value) || !value.every((name) => typeof name === 'string'))
        refuse(path, 'a required that is not a list of property names');
      return value;
    default:
      if (COUNTS.has(key) && !(Number.isInteger(value) && (value as number) >= 0))
        refuse(path, `${key} ${JSON.stringify(value)}, not a count`);
      return value;
  }
}

function grammarSchemaAt(schema: unknown, path: string): Schema {
  if (!isSchema(schema)) refuse(path, `${JSON.stringify(schema)} where a schema object belongs`);
  if (schema['anyOf'] !== undefined && schema['oneOf'] !== undefined) refuse(path, 'both anyOf and oneOf');
  const out: Schema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (ANNOTATIONS.has(key)) {
      if (key === 'description' && typeof value === 'string') out[key] = value;
      continue;
    }
    // A grammar writes one branch, which satisfies anyOf as much as oneOf.
    const name = key === 'anyOf' ? 'oneOf' : key;
    if (!KEPT.has(name)) refuse(at(path, key), `the keyword ${key}, which it would ignore`);
    out[name] = keyword(name, value, at(path, key));
  }
  checkCoherent(out, path);
  return out;
}

/** What the grammar could never write: a required property it does not define, bounds the wrong way round. */
function checkCoherent(schema: Schema, path: string): void {
  const properties = isSchema(schema['properties']) ? schema['properties'] : {};
  const missing = ((schema['required'] as string[] | undefined) ?? []).find((name) => !Object.hasOwn(properties, name));
  if (missing !== undefined) refuse(at(path, 'required'), `the required property "${missing}", which properties lacks`);
  for (const [low, high] of BOUNDS) {
    if (typeof schema[low] === 'number' && typeof schema[high] === 'number' && schema[low] > schema[high])
      refuse(path, `${low} ${String(schema[low])} above ${high} ${String(schema[high])}`);
  }
  // The grammar writes every property in `properties`, required or not (node-llama-cpp 3.x), and
  // others only where additionalProperties allows them.
  const listed = Object.keys(properties).length;
  const { maxProperties, minProperties, additionalProperties } = schema;
  if (typeof maxProperties === 'number' && maxProperties < listed)
    refuse(
      path,
      `maxProperties ${maxProperties} below the ${listed} properties, which the grammar always writes all of`,
    );
  const closed = additionalProperties === undefined || additionalProperties === false;
  if (closed && typeof minProperties === 'number' && minProperties > listed)
    refuse(path, `minProperties ${minProperties} above the ${listed} properties, with no additionalProperties allowed`);
}

/** Every name under a `$defs` anywhere in the schema: what a `$ref` may point to. */
function definedNames(schema: unknown, names = new Set<string>()): Set<string> {
  if (Array.isArray(schema)) schema.forEach((item) => definedNames(item, names));
  else if (isSchema(schema)) {
    if (isSchema(schema['$defs'])) Object.keys(schema['$defs']).forEach((name) => names.add(name));
    Object.values(schema).forEach((value) => definedNames(value, names));
  }
  return names;
}

/** Every `$ref` of the schema names a definition it has. */
function checkReferences(schema: unknown, names: Set<string>, path: string): void {
  if (Array.isArray(schema)) schema.forEach((item, i) => checkReferences(item, names, at(path, i)));
  else if (isSchema(schema)) {
    const ref = schema['$ref'];
    if (typeof ref === 'string' && !names.has(ref.slice('#/$defs/'.length)))
      refuse(at(path, '$ref'), `the reference "${ref}", which no $defs defines`);
    for (const [key, value] of Object.entries(schema)) checkReferences(value, names, at(path, key));
  }
}

/**
 * A forced tool call's JSON Schema as node-llama-cpp's grammar takes it (anyOf as oneOf,
 * annotations left out), or a 400 `invalid_request` on `tools` naming the first keyword its
 * grammar would silently ignore, or what it could never write (an unknown type, a dangling
 * `$ref`, a required property not defined, bounds the wrong way round): the output must match
 * the schema the client sent.
 */
export function grammarSchema(schema: Record<string, unknown>): Record<string, unknown> {
  const out = grammarSchemaAt(schema, '');
  checkReferences(out, definedNames(out), '');
  return out;
}
