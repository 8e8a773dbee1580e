import type { FromSchema } from 'json-schema-to-ts';
import { ID_PATTERN } from './chat-request.schema.js';
import { errorFrameSchema } from './reply-frames.schema.js';
import { SUBJECT_TOKEN_PATTERN } from './subjects.js';
import { ACCEPTED_PROTOCOL_VERSIONS } from './version.js';

/** Most inputs one embeddings request may carry (OpenAI's own limit). */
export const EMBED_MAX_INPUTS = 2048;

const tokensSchema = {
  type: 'array',
  minItems: 1,
  items: { type: 'integer', minimum: 0 },
} as const;

/**
 * Published on `<prefix>.<agent>.embed` with a reply subject: "embed these inputs with this
 * embedding agent". One worker of the agent's queue group answers with one
 * {@link embedReplySchema} message. Nothing is stored: no session, no turn, no cache.
 */
export const embedRequestSchema = {
  $id: 'urn:agentbus:bus:embed-request:v1',
  title: 'EmbedRequest',
  type: 'object',
  additionalProperties: false,
  required: ['v', 'request_id', 'intent', 'model', 'input', 'tenant', 'timeout_ms', 'created_at'],
  properties: {
    v: { enum: ACCEPTED_PROTOCOL_VERSIONS, description: 'Protocol version (bus-schemas/version.ts).' },
    request_id: { type: 'string', pattern: ID_PATTERN, description: 'Unique per request; echoed in the reply.' },
    intent: {
      type: 'string',
      pattern: SUBJECT_TOKEN_PATTERN,
      description: 'The embedding agent; must match the subject it was published on.',
    },
    model: { type: 'string', description: 'What the client asked for (the agent name).' },
    input: {
      description: 'The texts to embed, or token arrays (only providers that take tokens accept them).',
      anyOf: [
        { type: 'array', minItems: 1, maxItems: EMBED_MAX_INPUTS, items: { type: 'string' } },
        { type: 'array', minItems: 1, maxItems: EMBED_MAX_INPUTS, items: tokensSchema },
      ],
    },
    dimensions: {
      type: 'integer',
      minimum: 1,
      description: 'Truncate each vector to this many leading dimensions and renormalize (Matryoshka models only).',
    },
    private: { type: 'boolean', description: "Only providers in the worker's LOCAL_PROVIDERS may see the input." },
    tenant: { type: 'string', pattern: ID_PATTERN, description: "Id of the caller's API key." },
    timeout_ms: {
      type: 'integer',
      minimum: 100,
      maximum: 3_600_000,
      description: 'How long the worker may take, counted from when it receives the request.',
    },
    traceparent: { type: 'string', description: 'W3C trace context.' },
    created_at: { type: 'integer', description: 'Epoch milliseconds when the gateway accepted the request.' },
  },
} as const;

/** `embeddings`: one vector per input, in input order, each little-endian float32 in base64. */
export const embedVectorsReplySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'request_id', 'embeddings', 'model', 'provider', 'usage'],
  properties: {
    type: { const: 'embeddings' },
    request_id: { type: 'string', pattern: ID_PATTERN },
    embeddings: {
      type: 'array',
      maxItems: EMBED_MAX_INPUTS,
      items: { type: 'string', description: 'little-endian float32 values, base64 (as OpenAI\'s "base64" format)' },
    },
    model: { type: 'string', description: 'The backend model that embedded the inputs.' },
    provider: { type: 'string', description: "The link of the agent's provider chain that answered." },
    usage: {
      type: 'object',
      additionalProperties: false,
      required: ['prompt_tokens', 'total_tokens'],
      properties: {
        prompt_tokens: { type: 'integer', minimum: 0 },
        total_tokens: { type: 'integer', minimum: 0 },
      },
    },
  },
} as const;

/** `error`: nothing was embedded; `request_id` is `unknown` when the request could not be read. */
export const embedErrorReplySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'request_id', 'error'],
  properties: {
    type: { const: 'error' },
    request_id: { type: 'string', pattern: ID_PATTERN },
    error: errorFrameSchema.properties.error,
  },
} as const;

/** The one reply to an embed request, discriminated by `type`. */
export const embedReplySchema = {
  $id: 'urn:agentbus:bus:embed-reply:v1',
  title: 'EmbedReply',
  type: 'object',
  required: ['type'],
  properties: { type: { enum: ['embeddings', 'error'] } },
  discriminator: { propertyName: 'type' },
  oneOf: [embedVectorsReplySchema, embedErrorReplySchema],
} as const;

/** An embed request (type derived from {@link embedRequestSchema}). */
export type EmbedRequest = FromSchema<typeof embedRequestSchema>;
/** The reply to an embed request (type derived from {@link embedReplySchema}). */
export type EmbedReply = FromSchema<typeof embedReplySchema>;
/** A successful reply (type derived from {@link embedVectorsReplySchema}). */
export type EmbedVectorsReply = FromSchema<typeof embedVectorsReplySchema>;
