type Schema = Record<string, unknown>;

// Keywords with which node-llama-cpp 3.x writes a value without a type: any other schema without
// one falls through to its null-only grammar (getGbnfJsonTerminalForGbnfJsonSchema).
const SELF_TYPED = ['type', 'oneOf', 'anyOf', 'enum', 'const', '$ref'];

// The type each keyword constrains: JSON Schema lets other types pass it untouched, but a client
// who wrote `properties` or `items` wants that kind of value, so the grammar writes that type.
const KEYWORDS_OF: Record<string, readonly string[]> = {
  object: [
    'properties',
    'required',
    'additionalProperties',
    'minProperties',
    'maxProperties',
    'patternProperties',
    'propertyNames',
    'dependentRequired',
    'dependentSchemas',
    'unevaluatedProperties',
  ],
  array: [
    'items',
    'prefixItems',
    'additionalItems',
    'minItems',
    'maxItems',
    'contains',
    'minContains',
    'maxContains',
    'uniqueItems',
    'unevaluatedItems',
  ],
  string: ['minLength', 'maxLength', 'pattern', 'format'],
  number: ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf'],
};
const TYPE_OF = new Map(Object.entries(KEYWORDS_OF).flatMap(([type, keys]) => keys.map((key) => [key, type])));

/**
 * Any JSON value in node-llama-cpp's form. A list of types takes scalars only (objects and arrays
 * in it are dropped), so those are branches of their own: an object open to any property and an
 * array of any items each write any value inside, to any depth, through one recursive rule.
 */
export function anyValue(): Schema {
  return {
    oneOf: [
      { type: ['string', 'number', 'boolean', 'null'] },
      { type: 'object', additionalProperties: true },
      { type: 'array' },
    ],
  };
}

/**
 * A converted schema (`held`) given the type that the client's schema (`sent`) leaves out: any
 * value where no keyword implies one (`{}`, `true`, a description), else the type(s) its keywords
 * constrain — one branch per type, each with its own keywords, where they are of several.
 */
export function withImpliedType(sent: Schema, held: Schema): Schema {
  if (SELF_TYPED.some((key) => key in sent)) return held;
  const types = [...new Set(Object.keys(sent).flatMap((key) => TYPE_OF.get(key) ?? []))];
  if (types.length === 0) return { ...held, ...anyValue() };
  if (types.length === 1) return { type: types[0], ...held };
  const shared = Object.entries(held).filter(([key]) => !TYPE_OF.has(key));
  const branch = (type: string) => ({
    type,
    ...Object.fromEntries(Object.entries(held).filter(([key]) => TYPE_OF.get(key) === type)),
  });
  return { ...Object.fromEntries(shared), oneOf: types.map(branch) };
}
