import { Ajv, type ValidateFunction } from 'ajv';
import ajvFormats from 'ajv-formats';
import { AgentbusError, messageFromAjvErrors } from '../../bus-schemas/index.js';

// Unknown keywords and formats are not errors here: the schema is the client's, and a backend took it.
const ajv = new Ajv({ strict: false, allErrors: false, logger: false });
// The formats grammars cannot hold (email, uri, uuid…) are checked with ajv-formats, the format
// library of ajv's own project. date, time and date-time are left to the grammars, which write
// them (node-llama-cpp's time has no offset, which ajv-formats' time requires): always valid here.
ajvFormats.default(ajv, { mode: 'fast' });
for (const format of ['date', 'time', 'date-time', 'iso-time', 'iso-date-time']) ajv.addFormat(format, true);
// Compiled schemas by their JSON: a tool's schema comes again with every request of a conversation.
// Bounded, and each one evicted is removed from ajv's own cache too.
const MAX_COMPILED = 256;
const compiled = new Map<string, { schema: object; validate: ValidateFunction | null }>();

function validatorOf(schema: Record<string, unknown>): ValidateFunction | null {
  const key = JSON.stringify(schema);
  const known = compiled.get(key);
  if (known) return known.validate;
  let validate: ValidateFunction | null = null;
  try {
    validate = ajv.compile(schema);
  } catch {
    // A schema ajv cannot compile was still taken by the backend's grammar: nothing to check with.
  }
  if (compiled.size >= MAX_COMPILED) {
    const [oldest, entry] = compiled.entries().next().value as [string, { schema: object }];
    compiled.delete(oldest);
    ajv.removeSchema(entry.schema);
  }
  compiled.set(key, { schema, validate });
  return validate;
}

/**
 * Arguments a grammar held to `schema` (a forced call on Ollama or llama.cpp, a llama.cpp call
 * under "auto") checked against the schema itself: each grammar covers only part of JSON Schema
 * (llama.cpp's leaves minimum, pattern, most formats… to this check), and a schema whose parts
 * contradict each other (an enum of strings on an integer) can still yield output. Such output is
 * a 400 on `tools`, never a call that breaks the schema the client relies on; not retried, and not
 * counted against the backend, whose grammar did what it could.
 */
export function checkToolArguments(name: string, schema: Record<string, unknown>, args: unknown): void {
  const validate = validatorOf(schema);
  if (!validate || validate(args)) return;
  const { message, param } = messageFromAjvErrors(validate.errors, 'arguments');
  const what = param === null ? message : `arguments.${message}`;
  throw new AgentbusError(
    'invalid_request',
    `The model wrote a call of "${name}" that breaks its parameter schema (${what}), a rule the backend's ` +
      "grammar could not hold it to: try again, state the rule in the tool's description, or check that the " +
      'schema can be satisfied (no enum that contradicts its type).',
    { param: 'tools' },
  );
}

/**
 * A strict structured output (response_format json_schema with `strict: true`) that a grammar held
 * to `schema`, checked against the schema itself for the same reason as tool arguments: output
 * that breaks a rule the grammar left out is a 400 on `response_format`, never an answer the
 * client's parser would reject. Without `strict`, as on OpenAI, the schema guides and is not checked.
 */
export function checkStructuredOutput(schema: Record<string, unknown>, output: string): void {
  const validate = validatorOf(schema);
  if (!validate) return;
  let value: unknown;
  try {
    value = JSON.parse(output);
  } catch {
    throw brokenOutput(`it wrote ${output.length} characters that are not JSON`);
  }
  if (validate(value)) return;
  throw brokenOutput(messageFromAjvErrors(validate.errors, 'the output').message);
}

const brokenOutput = (what: string) =>
  new AgentbusError(
    'invalid_request',
    `The model wrote output that breaks the response_format schema (${what}), a rule the backend's grammar ` +
      'could not hold it to: try again, state the rule in the prompt, or check that the schema can be satisfied.',
    { param: 'response_format' },
  );
