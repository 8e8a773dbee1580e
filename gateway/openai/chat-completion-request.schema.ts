import type { FromSchema } from 'json-schema-to-ts';

const textPartSchema = {
  type: 'object',
  required: ['type', 'text'],
  properties: {
    type: { const: 'text' },
    text: { type: 'string' },
  },
} as const;

const nullableNumber = (minimum: number, maximum: number) => ({ type: ['number', 'null'], minimum, maximum }) as const;

/**
 * `POST /v1/chat/completions` body: the subset of OpenAI's request that the spine maps to the
 * bus. Parameters it cannot honour are refused by `unsupported-parameters.ts`; other unknown
 * fields (vendor extensions) are accepted and not used.
 */
export const chatCompletionRequestSchema = {
  type: 'object',
  required: ['model', 'messages'],
  properties: {
    model: { type: 'string', minLength: 1, maxLength: 256 },
    messages: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['role'],
        properties: {
          role: { enum: ['system', 'developer', 'user', 'assistant'] },
          content: {
            description: 'a string, null, or an array of text parts ({"type": "text", "text": "…"}); image and audio parts are not supported yet',
            anyOf: [
              { type: 'string' },
              { type: 'null' },
              { type: 'array', items: textPartSchema },
            ],
          },
          name: { type: 'string', minLength: 1, maxLength: 64 },
        },
      },
    },
    stream: { type: ['boolean', 'null'] },
    stream_options: {
      type: ['object', 'null'],
      properties: { include_usage: { type: 'boolean' } },
    },
    temperature: nullableNumber(0, 2),
    top_p: nullableNumber(0, 1),
    max_tokens: { type: ['integer', 'null'], minimum: 1 },
    max_completion_tokens: { type: ['integer', 'null'], minimum: 1 },
    stop: {
      description: 'a non-empty string or an array of at most 4 non-empty strings',
      anyOf: [
        { type: 'string', minLength: 1 },
        { type: 'array', maxItems: 4, items: { type: 'string', minLength: 1 } },
        { type: 'null' },
      ],
    },
    seed: { type: ['integer', 'null'] },
    presence_penalty: nullableNumber(-2, 2),
    frequency_penalty: nullableNumber(-2, 2),
    user: { type: 'string' },
  },
} as const;

export type ChatCompletionRequest = FromSchema<typeof chatCompletionRequestSchema>;
