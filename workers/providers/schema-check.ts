import { Ajv, type Options, type ValidateFunction } from 'ajv';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { Ajv2020 } from 'ajv/dist/2020.js';
import ajvFormats from 'ajv-formats';
import { fastFormats } from 'ajv-formats/dist/formats.js';
import { createHash } from 'node:crypto';
import { RE2JS } from 're2js';
import { AgentbusError, messageFromAjvErrors } from '../../bus-schemas/index.js';
import { ecmaPatternForRe2 } from './ecma-pattern.js';

// The client's JSON Schemas (a tool's parameters, a strict response_format), checked against what a
// grammar made the model write: each grammar holds only part of JSON Schema (llama.cpp's leaves
// minimum, pattern, most formats… to this check), and a schema whose parts contradict each other
// (an enum of strings on an integer) can still yield output.

/**
 * A `pattern` runs on RE2's linear-time engine (re2js, pure JavaScript), not JavaScript's
 * backtracking RegExp: the schema is the client's, and `^(a|a)*$` against 30 characters held the
 * worker's event loop for 50 s. What RE2 cannot run (lookarounds, backreferences) is refused.
 */
const linearRegExp = Object.assign(
  (pattern: string) => {
    let compiled: RE2JS;
    try {
      compiled = RE2JS.compile(ecmaPatternForRe2(pattern));
    } catch (err) {
      throw new Error(`the pattern ${JSON.stringify(pattern)} cannot be checked: ${(err as Error).message}`, {
        cause: err,
      });
    }
    return { test: (text: string) => compiled.test(text), toString: () => `/${pattern}/` };
  },
  { code: 'RE2JS.compile' },
);

// Unknown keywords and formats are not errors here: the schema is the client's, and a backend took it.
const options: Options = { strict: false, allErrors: false, logger: false, code: { regExp: linearRegExp } };

function withFormats<T extends Ajv>(ajv: T): T {
  // The formats grammars cannot hold (email, uri, uuid…) with ajv-formats, the format library of
  // ajv's own project. A time or date-time may come without an offset (node-llama-cpp writes none).
  ajvFormats.default(ajv, { mode: 'fast' });
  ajv.addFormat('time', fastFormats['iso-time']);
  ajv.addFormat('date-time', fastFormats['iso-date-time']);
  return ajv;
}

// Draft 7 (and the drafts before it, as far as they agree), and the two later drafts that zod 4,
// LangChain and others name in `$schema`.
const newEngines = () => ({
  draft7: withFormats(new Ajv(options)),
  draft2019: withFormats(new Ajv2019(options)),
  draft2020: withFormats(new Ajv2020(options)),
});
// Built on first use, not at start: most workers never see a forced call or a strict schema.
let engines: ReturnType<typeof newEngines> | undefined;
let compiledByEngines = 0;

function engineFor($schema: unknown): Ajv {
  engines ??= newEngines();
  if (typeof $schema !== 'string') return engines.draft7;
  if ($schema.includes('2020-12')) return engines.draft2020;
  if ($schema.includes('2019-09')) return engines.draft2019;
  return engines.draft7;
}

type Compiled = { validate: ValidateFunction; problem?: undefined } | { validate?: undefined; problem: string };

// Compiled schemas by a digest of their JSON: a tool's schema comes again with every request of a
// conversation. An engine keeps every schema it compiled (ajv's removeSchema leaves the compiled
// code's values in its scope), so the engines are replaced as often as the cache turns over.
const MAX_COMPILED = 256;
const compiled = new Map<string, Compiled>();

function compileWith(engine: Ajv, body: Record<string, unknown>): Compiled {
  try {
    return { validate: engine.compile(body) };
  } catch (err) {
    return { problem: (err as Error).message };
  } finally {
    try {
      // Nothing stays registered by `$id`: another client's schema may use the same one.
      engine.removeSchema(body);
    } catch {
      // An id ajv could not register was not registered.
    }
  }
}

function compile(schema: Record<string, unknown>): Compiled {
  const key = createHash('sha256').update(JSON.stringify(schema)).digest('base64');
  const known = compiled.get(key);
  if (known) return known;
  if (++compiledByEngines > MAX_COMPILED) {
    engines = undefined;
    compiledByEngines = 1;
  }
  // `$schema` picks the engine and is not resolved (no draft-04 meta-schema is needed to check data).
  const { $schema, ...body } = schema;
  const engine = engineFor($schema);
  let result = compileWith(engine, body);
  // A root `$id` ajv cannot take as a URI (such as "urn:x") names nothing a `$ref` could use.
  if (result.problem !== undefined && body['$id'] !== undefined) {
    const { $id: _id, ...anonymous } = body;
    const retried = compileWith(engine, anonymous);
    if (retried.validate) result = retried;
  }
  if (compiled.size >= MAX_COMPILED) compiled.delete(compiled.keys().next().value!);
  compiled.set(key, result);
  return result;
}

/**
 * The check of the arguments of calls of function `name`, made before the model runs: a schema it
 * cannot check (an invalid pattern, one RE2 cannot run, a rule that is not JSON Schema) is a 400
 * on `tools` at once. A call that breaks the schema is a 400 on `tools`, never a call; not
 * retried, and not counted against the backend, whose grammar did what it could.
 */
export function toolArgumentsCheck(name: string, schema: Record<string, unknown>): (args: unknown) => void {
  const { validate, problem } = compile(schema);
  if (!validate)
    throw new AgentbusError(
      'invalid_request',
      `The parameter schema of function "${name}" cannot be checked: ${problem}. Fix the schema.`,
      { param: 'tools' },
    );
  return (args) => {
    if (validate(args)) return;
    const { message, param } = messageFromAjvErrors(validate.errors, 'arguments');
    const what = param === null ? message : `arguments.${message}`;
    throw new AgentbusError(
      'invalid_request',
      `The model wrote a call of "${name}" that breaks its parameter schema (${what}), a rule the backend's ` +
        "grammar could not hold it to: try again, state the rule in the tool's description, or check that the " +
        'schema can be satisfied (no enum that contradicts its type).',
      { param: 'tools' },
    );
  };
}

/**
 * The check of a strict structured output (response_format json_schema with `strict: true`) against
 * its schema, made before the model runs, with the 400s of {@link toolArgumentsCheck} on
 * `response_format`. Without `strict`, as on OpenAI, the schema guides and is not checked.
 */
export function structuredOutputCheck(schema: Record<string, unknown>): (output: string) => void {
  const { validate, problem } = compile(schema);
  if (!validate)
    throw new AgentbusError(
      'invalid_request',
      `The response_format schema cannot be checked: ${problem}. Fix the schema.`,
      { param: 'response_format' },
    );
  return (output) => {
    let value: unknown;
    try {
      value = JSON.parse(output);
    } catch {
      throw brokenOutput(`it wrote ${output.length} characters that are not JSON`);
    }
    if (!validate(value)) throw brokenOutput(messageFromAjvErrors(validate.errors, 'the output').message);
  };
}

const brokenOutput = (what: string) =>
  new AgentbusError(
    'invalid_request',
    `The model wrote output that breaks the response_format schema (${what}), a rule the backend's grammar ` +
      'could not hold it to: try again, state the rule in the prompt, or check that the schema can be satisfied.',
    { param: 'response_format' },
  );
