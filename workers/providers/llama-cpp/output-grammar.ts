import { AgentbusError } from '../../../bus-schemas/index.js';
import type { ProviderChatRequest } from '../types.js';
import type { ForcedToolCall } from '../forced-tool-call.js';
import { structuredOutputCheck } from '../schema-check.js';
import { grammarSchema, RESPONSE_FORMAT_SCHEMA, TOOL_SCHEMA, type SchemaOwner } from './grammar-schema.js';
import type { Llama, LlamaGrammar } from './load-module.js';

/** What a request's output is held to: a JSON Schema (a forced call's, a structured output's) or any JSON object. */
export type OutputShape =
  | {
      readonly kind: 'schema';
      readonly schema: Record<string, unknown>;
      readonly owner: SchemaOwner;
      /** A strict structured output's check of the whole answer against the client's schema. */
      readonly check?: (output: string) => void;
    }
  | { readonly kind: 'json' };

/**
 * The shape of the output, or undefined for free text; a 400 for what one grammar cannot do
 * (node-llama-cpp takes one grammar per generation, and none beside functions) or a schema it
 * could never write. Checked before the model is loaded.
 */
export function outputShape(
  request: ProviderChatRequest,
  forced: ForcedToolCall | undefined,
  withFunctions: boolean,
): OutputShape | undefined {
  const format = request.responseFormat;
  if (format && forced)
    throw new AgentbusError(
      'invalid_request',
      'response_format and a forced tool call (tool_choice "required" or a named function) cannot both ' +
        'shape the answer on the llama-cpp backend; send one of them.',
      { param: 'response_format' },
    );
  if (format && withFunctions)
    throw new AgentbusError(
      'invalid_request',
      'The llama-cpp provider cannot offer tools and hold the answer to response_format at once (one grammar ' +
        'per answer): send tool_choice "none", or leave out response_format.',
      { param: 'response_format' },
    );
  if (forced) return { kind: 'schema', schema: grammarSchema(forced.schema, TOOL_SCHEMA), owner: TOOL_SCHEMA };
  if (format?.type === 'json_schema' && format.json_schema.schema) {
    const { schema, strict } = format.json_schema;
    return {
      kind: 'schema',
      schema: grammarSchema(schema, RESPONSE_FORMAT_SCHEMA),
      owner: RESPONSE_FORMAT_SCHEMA,
      // Strict, as on OpenAI: the schema is a promise to the client's parser, and the grammar holds part of it.
      ...(strict === true ? { check: structuredOutputCheck(schema) } : {}),
    };
  }
  // json_object, or json_schema without a schema: a JSON object (llama.cpp's json.gbnf).
  return format ? { kind: 'json' } : undefined;
}

/** The grammar of a shape; node-llama-cpp's own refusal of a schema is the request's 400 too. */
export async function grammarOf(llama: Llama, shape: OutputShape | undefined): Promise<LlamaGrammar | undefined> {
  if (!shape) return undefined;
  if (shape.kind === 'json') return llama.getGrammarFor('json');
  try {
    return await llama.createGrammarForJsonSchema(shape.schema);
  } catch (err) {
    // The converter recurses along the schema: a chain of references hundreds deep runs out of stack.
    const why = err instanceof RangeError ? 'the schema nests or chains references too deeply' : (err as Error).message;
    throw new AgentbusError(
      'invalid_request',
      `The llama-cpp provider cannot hold the model to ${shape.owner.what}: ${why}`,
      {
        param: shape.owner.param,
        cause: err,
      },
    );
  }
}
