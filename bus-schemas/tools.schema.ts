import type { FromSchema } from 'json-schema-to-ts';

/** Function names as OpenAI accepts them (and as every provider can pass them on). */
export const FUNCTION_NAME_PATTERN = '^[A-Za-z0-9_-]{1,64}$';

/** A function name (tool definitions, calls, tool_choice, json_schema names). */
export const functionNameSchema = { type: 'string', pattern: FUNCTION_NAME_PATTERN } as const;

/** A tool call's id, as a call and the tool message answering it carry it. */
export const toolCallIdSchema = { type: 'string', minLength: 1, maxLength: 128 } as const;

/** A tool call the model made, in OpenAI's shape: `arguments` is a JSON text, as the model wrote it. */
export const toolCallSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'type', 'function'],
  properties: {
    id: toolCallIdSchema,
    type: { const: 'function' },
    function: {
      type: 'object',
      additionalProperties: false,
      required: ['name', 'arguments'],
      properties: {
        name: functionNameSchema,
        arguments: { type: 'string' },
      },
    },
  },
} as const;

/**
 * A piece of a tool call inside a `delta` frame, exactly as OpenAI streams it: the first
 * fragment of a call carries `index`, `id`, `type`, `function.name` and `arguments: ""`; later
 * ones carry only `index` and an `arguments` fragment.
 */
export const toolCallFragmentSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['index', 'function'],
  properties: {
    index: { type: 'integer', minimum: 0 },
    id: toolCallIdSchema,
    type: { const: 'function' },
    function: {
      type: 'object',
      additionalProperties: false,
      required: ['arguments'],
      properties: {
        name: functionNameSchema,
        arguments: { type: 'string' },
      },
    },
  },
} as const;

/** A function the model may call (OpenAI `tools[]` entry). `parameters` is a JSON Schema. */
export const toolDefinitionSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'function'],
  properties: {
    type: { const: 'function' },
    function: {
      type: 'object',
      additionalProperties: false,
      required: ['name'],
      properties: {
        name: functionNameSchema,
        description: { type: 'string' },
        parameters: { type: 'object' },
        strict: { type: 'boolean' },
      },
    },
  },
} as const;

/** OpenAI `tool_choice`: a mode, or one named function the model must call. */
export const toolChoiceSchema = {
  anyOf: [
    { enum: ['none', 'auto', 'required'] },
    {
      type: 'object',
      additionalProperties: false,
      required: ['type', 'function'],
      properties: {
        type: { const: 'function' },
        function: {
          type: 'object',
          additionalProperties: false,
          required: ['name'],
          properties: { name: functionNameSchema },
        },
      },
    },
  ],
} as const;

/** OpenAI `response_format` beyond plain text: any JSON object, or JSON matching a schema. */
export const responseFormatSchema = {
  anyOf: [
    {
      type: 'object',
      additionalProperties: false,
      required: ['type'],
      properties: { type: { const: 'json_object' } },
    },
    {
      type: 'object',
      additionalProperties: false,
      required: ['type', 'json_schema'],
      properties: {
        type: { const: 'json_schema' },
        json_schema: {
          type: 'object',
          additionalProperties: false,
          required: ['name'],
          properties: {
            name: functionNameSchema,
            description: { type: 'string' },
            schema: { type: 'object' },
            strict: { type: ['boolean', 'null'] },
          },
        },
      },
    },
  ],
} as const;

/** A tool call (type derived from {@link toolCallSchema}). */
export type ToolCall = FromSchema<typeof toolCallSchema>;
/** A streamed tool-call fragment (type derived from {@link toolCallFragmentSchema}). */
export type ToolCallFragment = FromSchema<typeof toolCallFragmentSchema>;
/** A tool definition (type derived from {@link toolDefinitionSchema}). */
export type ToolDefinition = FromSchema<typeof toolDefinitionSchema>;
/** A tool choice (type derived from {@link toolChoiceSchema}). */
export type ToolChoice = FromSchema<typeof toolChoiceSchema>;
/** A structured-output request (type derived from {@link responseFormatSchema}). */
export type ResponseFormat = FromSchema<typeof responseFormatSchema>;
