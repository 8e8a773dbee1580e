import { AgentbusError } from '../../../bus-schemas/index.js';
import { anyValue, withImpliedType } from './typeless-schema.js';

// What node-llama-cpp's JSON Schema grammars hold the output to (3.x, utils/gbnfJson/types.d.ts).
// Any other keyword (pattern, minimum, allOf, an email format…) is left out of the grammar and held
// afterwards: the arguments are checked against the client's own schema once written
// (workers/providers/schema-check.ts), so a call that breaks it is a 400, never a call.
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
  'description',
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

/** What a schema is for, in the 400 that refuses it. */
export interface SchemaOwner {
  readonly what: string;
  readonly param: string;
}
export const TOOL_SCHEMA: SchemaOwner = { what: "this tool's parameter schema", param: 'tools' };
export const RESPONSE_FORMAT_SCHEMA: SchemaOwner = { what: "response_format's schema", param: 'response_format' };

// What the grammar could never write, where; worded for its owner by grammarSchema.
class Unholdable extends Error {}

function refuse(path: string, why: string): never {
  throw new Unholdable(`${why} (at ${path || 'its root'})`);
}

const at = (path: string, key: string | number) => (path ? `${path}.${key}` : String(key));

// Where a `false` schema is one choice among others (an anyOf branch, a property that may be left
// out), leaving it out says the same; elsewhere grammarSchemaAt refuses it.
function schemaList(value: unknown, path: string, dropFalse = false): Schema[] {
  if (!Array.isArray(value) || value.length === 0) refuse(path, 'an empty or missing list of schemas');
  const kept = value.flatMap((item, i) => (dropFalse && item === false ? [] : [grammarSchemaAt(item, at(path, i))]));
  if (kept.length === 0) refuse(path, 'only the schema false, which no value satisfies');
  return kept;
}

function schemaMap(value: unknown, path: string, dropFalse = false): Schema {
  if (!isSchema(value)) refuse(path, 'not an object of schemas');
  const entries = Object.entries(value).filter(([, item]) => !(dropFalse && item === false));
  return Object.fromEntries(entries.map(([key, item]) => [key, grammarSchemaAt(item, at(path, key))]));
}

/** One keyword of a schema, as node-llama-cpp takes it; refuses what it would drop. */
function keyword(key: string, value: unknown, path: string): unknown {
  switch (key) {
    case 'properties':
      return schemaMap(value, path, true);
    case '$defs':
      return schemaMap(value, path);
    case 'items':
      return grammarSchemaAt(value, path);
    case 'additionalProperties':
      return typeof value === 'boolean' ? value : grammarSchemaAt(value, path);
    case 'prefixItems':
      return schemaList(value, path);
    case 'oneOf':
      return schemaList(value, path, true);
    case 'enum':
      if (!Array.isArray(value) || value.length === 0) refuse(path, 'an enum that lists no value');
      if (!value.every(isScalar)) refuse(path, 'an enum of objects or arrays');
      return value;
    case 'const':
      if (!isScalar(value)) refuse(path, 'a const object or array');
      return value;
    case 'format':
      // Other formats (email, uri…) are held by the check afterwards, not by the grammar.
      return FORMATS.has(value as string) ? value : undefined;
    case '$ref':
      if (typeof value !== 'string' || !/^#\/(\$defs|definitions)\/[^/]+$/.test(value))
        refuse(path, `the reference ${JSON.stringify(value)}, which is not "#/$defs/<name>"`);
      return value.replace('#/definitions/', '#/$defs/');
    case 'description':
      return typeof value === 'string' ? value : undefined;
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

// Draft 7's tuple keywords, by the name each takes in node-llama-cpp's form (withTupleRest).
const DRAFT_7_TUPLE: Record<string, string> = { prefixItems: 'items', items: 'additionalItems' };

/**
 * An array's items past its tuple in node-llama-cpp's form: a schema in `items` after `prefixItems`.
 * Draft 7 writes the tuple as a list of `items` and the rest as `additionalItems`. node-llama-cpp takes
 * no boolean there: `false` (zod 4's closed tuple) caps `maxItems` at the tuple's length, `true` says nothing.
 */
function withTupleRest(schema: Schema, path: string): Schema {
  const { items, additionalItems, ...others } = schema;
  if (items === undefined && additionalItems === undefined) return schema;
  const draft7 = Array.isArray(items);
  const out: Schema = draft7 ? { ...others, prefixItems: items } : others;
  const rest = draft7 ? additionalItems : items;
  if (rest === false) {
    const tuple = out['prefixItems'];
    const length = Array.isArray(tuple) ? tuple.length : 0;
    const { minItems, maxItems } = others;
    if (typeof minItems === 'number' && minItems > length)
      refuse(path, `minItems ${minItems} above the ${length} items a closed tuple holds`);
    // A maxItems that is not a number stays as sent, for the check of counts to name.
    out['maxItems'] = typeof maxItems === 'number' ? Math.min(maxItems, length) : (maxItems ?? length);
  } else if (rest !== undefined && rest !== true) out['items'] = rest;
  return out;
}

function grammarSchemaAt(schema: unknown, path: string): Schema {
  // JSON Schema's boolean schemas (zod's z.any() in some modes): `true` is `{}`, `false` takes no value.
  if (schema === true) return anyValue();
  if (schema === false) refuse(path, 'the schema false, which no value satisfies');
  if (!isSchema(schema)) refuse(path, `${JSON.stringify(schema)} where a schema object belongs`);
  checkNoneRequired(schema, path);
  if (schema['anyOf'] !== undefined && schema['oneOf'] !== undefined) refuse(path, 'both anyOf and oneOf');
  // Errors name the keywords the client wrote, not those of node-llama-cpp's form.
  const sentAs = (key: string) => (Array.isArray(schema['items']) ? (DRAFT_7_TUPLE[key] ?? key) : key);
  const out: Schema = {};
  for (const [key, value] of Object.entries(withTupleRest(schema, path))) {
    const name = renamedKeyword(key);
    // Left out of the grammar: an annotation, or a rule the check afterwards holds.
    if (!KEPT.has(name)) continue;
    const kept = keyword(name, value, at(path, sentAs(key)));
    if (kept !== undefined) out[name] = kept;
  }
  checkCoherent(out, path);
  const typed = withImpliedType(schema, out);
  return Array.isArray(typed['oneOf']) && typed['type'] === undefined
    ? { ...typed, oneOf: typed['oneOf'].map((branch) => openObject(branch as Schema)) }
    : openObject(typed);
}

/**
 * An object that names neither its properties nor the others' schema takes any property (JSON Schema's
 * default, a free-form `{type: "object"}`), where node-llama-cpp would write only `{}`. An object with
 * `properties`, even none (a tool without parameters), keeps to them.
 */
function openObject(schema: Schema): Schema {
  if (schema['type'] !== 'object' || 'properties' in schema || 'additionalProperties' in schema) return schema;
  return { ...schema, additionalProperties: true };
}

/** No required property has the schema `false`: the grammar leaves such a property out, and no value has it. */
function checkNoneRequired(schema: Schema, path: string): void {
  const { properties, required } = schema;
  if (!isSchema(properties) || !Array.isArray(required)) return;
  const never = (required as unknown[]).find(
    (name): name is string => typeof name === 'string' && properties[name] === false,
  );
  if (never !== undefined)
    refuse(at(path, 'required'), `the required property "${never}", whose schema false no value satisfies`);
}

/**
 * The name a keyword has in node-llama-cpp's schemas: a grammar writes one branch, which satisfies
 * anyOf as much as oneOf; draft 7's `definitions` are `$defs` (its tuples: withTupleRest).
 */
function renamedKeyword(key: string): string {
  if (key === 'anyOf') return 'oneOf';
  if (key === 'definitions') return '$defs';
  return key;
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
  // Without `properties` an object is left open (openObject).
  const closed = additionalProperties === false || (additionalProperties === undefined && 'properties' in schema);
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

/** The root's definitions, by name: what `#/$defs/<name>` points to. */
function rootDefinitions(schema: unknown): Map<string, Schema> {
  const found = new Map<string, Schema>();
  const defs = isSchema(schema) ? schema['$defs'] : undefined;
  if (isSchema(defs)) for (const [name, value] of Object.entries(defs)) if (isSchema(value)) found.set(name, value);
  return found;
}

// What makes a schema describe a value of its own, beside a reference.
const DESCRIBING = ['type', 'properties', 'items', 'prefixItems', 'oneOf', 'anyOf', 'allOf', 'enum', 'const'];

/**
 * No definition is only a reference that leads back to itself (`a` → `a`, `a` → `b` → `a`): such a
 * schema describes no value, and the grammar's converter recursed until the stack ran out.
 * Recursion through a property or an item (a tree) is fine: it describes a value at each step.
 */
function checkAliasCycles(schema: unknown): void {
  const defs = rootDefinitions(schema);
  const target = (def: Schema | undefined) => {
    const ref = def?.['$ref'];
    if (typeof ref !== 'string' || DESCRIBING.some((key) => key in def!)) return undefined;
    return ref.slice('#/$defs/'.length);
  };
  for (const name of defs.keys()) {
    const seen = new Set([name]);
    for (let next = target(defs.get(name)); next !== undefined; next = target(defs.get(next))) {
      if (seen.has(next))
        refuse(
          `$defs.${name}`,
          `the reference chain from "#/$defs/${name}" leads back to itself without describing a value`,
        );
      seen.add(next);
    }
  }
}

/**
 * A JSON Schema (a tool's parameters, a response_format's) as node-llama-cpp's grammar takes it
 * (anyOf as oneOf, draft 7's forms renamed, annotations and the rules it cannot hold left out for
 * the check afterwards), or a 400 `invalid_request` on the owner's parameter naming what it could
 * never write (an unknown type, a dangling `$ref`, a required property not defined, bounds the
 * wrong way round, fewer properties than it writes).
 */
export function grammarSchema(schema: Record<string, unknown>, owner = TOOL_SCHEMA): Record<string, unknown> {
  try {
    const out = grammarSchemaAt(schema, '');
    checkReferences(out, definedNames(out), '');
    checkAliasCycles(out);
    return out;
  } catch (err) {
    if (!(err instanceof Unholdable)) throw err;
    throw new AgentbusError(
      'invalid_request',
      `The llama-cpp provider cannot hold the model to ${owner.what}: ${err.message}. Fix the schema, or ask ` +
        'an agent on Ollama or an OpenAI-compatible server.',
      { param: owner.param },
    );
  }
}
