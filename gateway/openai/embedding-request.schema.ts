import type { FromSchema } from 'json-schema-to-ts';
import { EMBED_MAX_INPUTS } from '../../bus-schemas/index.js';

const tokens = { type: 'array', minItems: 1, items: { type: 'integer', minimum: 0 } } as const;

/**
 * `POST /v1/embeddings` body, as OpenAI's: `input` a string, an array of strings, an array of
 * tokens or an array of token arrays. Whether the agent's backend takes tokens is its provider's
 * call (Ollama and llama.cpp refuse them by name).
 */
export const embeddingRequestSchema = {
  type: 'object',
  required: ['model', 'input'],
  properties: {
    model: { type: 'string', minLength: 1, maxLength: 256 },
    input: {
      description: 'a string, an array of strings, an array of tokens, or an array of token arrays',
      anyOf: [
        { type: 'string' },
        { type: 'array', minItems: 1, maxItems: EMBED_MAX_INPUTS, items: { type: 'string' } },
        tokens,
        { type: 'array', minItems: 1, maxItems: EMBED_MAX_INPUTS, items: tokens },
      ],
    },
    encoding_format: { enum: ['float', 'base64', null] },
    dimensions: { type: ['integer', 'null'], minimum: 1 },
    user: { type: ['string', 'null'], maxLength: 256 },
  },
} as const;

/** The same body on per-agent routes: the path names the agent. */
export const perAgentEmbeddingRequestSchema = { ...embeddingRequestSchema, required: ['input'] } as const;

export type EmbeddingBody = FromSchema<typeof perAgentEmbeddingRequestSchema>;
