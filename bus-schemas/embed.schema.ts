import type { FromSchema } from 'json-schema-to-ts';
import { ID_PATTERN } from './chat-request.schema.js';
import { errorFrameSchema } from './reply-frames.schema.js';
import { SUBJECT_TOKEN_PATTERN } from './subjects.js';
import { ACCEPTED_PROTOCOL_VERSIONS } from './version.js';

/** Most inputs one embeddings request may carry (OpenAI's own limit). */
export const EMBED_MAX_INPUTS = 2048;

/**
 * The request header by which a requester asks for progress replies (`ack`, then a `heartbeat`
 * every so many ms) before the answer. A header, not an envelope field: a worker from before
 * ignores it (a field would be refused, `invalid_envelope`) and answers once as it always did, and
 * a requester from before never sends it, so never meets a reply type it does not know.
 */
export const EMBED_HEARTBEAT_HEADER = 'Agentbus-Heartbeat-Ms';
/** The heartbeat intervals a worker honours (a chat envelope's `heartbeat_ms` bounds). */
export const EMBED_HEARTBEAT_MS = { minimum: 50, maximum: 60_000 } as const;

/** The interval the header asks for; undefined when absent or out of bounds (then: no progress replies). */
export function embedHeartbeatMsOf(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,6}$/.test(value)) return undefined;
  const ms = Number(value);
  return ms >= EMBED_HEARTBEAT_MS.minimum && ms <= EMBED_HEARTBEAT_MS.maximum ? ms : undefined;
}

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

/** `ack` (asked for by {@link EMBED_HEARTBEAT_HEADER}): a worker took the request and works on it. */
export const embedAckReplySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'request_id', 'worker'],
  properties: {
    type: { const: 'ack' },
    request_id: { type: 'string', pattern: ID_PATTERN },
    worker: { type: 'string', description: 'The micro service id of the worker that took the request.' },
  },
} as const;

/** `heartbeat` (asked for by {@link EMBED_HEARTBEAT_HEADER}): the worker is alive and still embedding. */
export const embedHeartbeatReplySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'request_id'],
  properties: {
    type: { const: 'heartbeat' },
    request_id: { type: 'string', pattern: ID_PATTERN },
  },
} as const;

/**
 * A reply to an embed request, discriminated by `type`: exactly one `embeddings` or `error` ends
 * it; before it, only when the request asked ({@link EMBED_HEARTBEAT_HEADER}), `ack` and `heartbeat`.
 */
export const embedReplySchema = {
  $id: 'urn:agentbus:bus:embed-reply:v1',
  title: 'EmbedReply',
  type: 'object',
  required: ['type'],
  properties: { type: { enum: ['embeddings', 'error', 'ack', 'heartbeat'] } },
  discriminator: { propertyName: 'type' },
  oneOf: [embedVectorsReplySchema, embedErrorReplySchema, embedAckReplySchema, embedHeartbeatReplySchema],
} as const;

/** An embed request (type derived from {@link embedRequestSchema}). */
export type EmbedRequest = FromSchema<typeof embedRequestSchema>;
/** The reply to an embed request (type derived from {@link embedReplySchema}). */
export type EmbedReply = FromSchema<typeof embedReplySchema>;
/** A successful reply (type derived from {@link embedVectorsReplySchema}). */
export type EmbedVectorsReply = FromSchema<typeof embedVectorsReplySchema>;
