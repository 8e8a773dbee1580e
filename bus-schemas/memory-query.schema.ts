import type { FromSchema } from 'json-schema-to-ts';
import { ID_PATTERN } from './chat-request.schema.js';
import { errorFrameSchema } from './reply-frames.schema.js';
import { ACCEPTED_PROTOCOL_VERSIONS } from './version.js';

/** Most turns one memory query may ask for: it bounds the database work and the reply's size. */
export const MEMORY_LAST_MAX_LIMIT = 100;

// What the worker stores as `created_at`: an ISO 8601 UTC instant, as `Date#toISOString` writes it.
const ISO_TIMESTAMP_PATTERN = '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?Z$';

/**
 * Published on `<prefix>.memory.last` with a reply subject: "the last `limit` turns of this
 * session, if it belongs to `tenant`". One worker of the `memory` queue group answers with one
 * {@link memoryLastReplySchema} message.
 */
export const memoryLastRequestSchema = {
  $id: 'urn:agentbus:bus:memory-last-request:v1',
  title: 'MemoryLastRequest',
  type: 'object',
  additionalProperties: false,
  required: ['v', 'request_id', 'tenant', 'session', 'limit'],
  properties: {
    v: { enum: ACCEPTED_PROTOCOL_VERSIONS, description: 'Protocol version (bus-schemas/version.ts).' },
    request_id: { type: 'string', pattern: ID_PATTERN, description: 'Unique per query; echoed in the reply.' },
    tenant: {
      type: 'string',
      pattern: ID_PATTERN,
      description: 'Id of the API key asking; only its own sessions are found.',
    },
    session: {
      type: 'string',
      pattern: ID_PATTERN,
      description: 'A conversation id, or any completion id of the conversation.',
    },
    limit: {
      type: 'integer',
      minimum: 1,
      maximum: MEMORY_LAST_MAX_LIMIT,
      description: 'How many turns at most, newest first.',
    },
  },
} as const;

/** One stored turn as a memory query returns it. */
export const memoryTurnSchema = {
  type: 'object',
  additionalProperties: false,
  required: [
    'session_id',
    'request_id',
    'user_input',
    'assistant_response',
    'timestamp',
    'agent',
    'model',
    'cached',
    'finish_reason',
    'prompt_tokens',
    'completion_tokens',
  ],
  properties: {
    session_id: { type: 'string', pattern: ID_PATTERN, description: 'The conversation the turn belongs to.' },
    request_id: { type: 'string', pattern: ID_PATTERN, description: 'The completion id of the turn.' },
    user_input: { type: 'string', description: 'Text of the user messages of the turn.' },
    assistant_response: { type: 'string' },
    timestamp: {
      type: 'string',
      pattern: ISO_TIMESTAMP_PATTERN,
      description: 'When the turn was stored (ISO 8601, UTC).',
    },
    agent: { type: 'string' },
    model: { type: 'string', description: 'Backend model that answered.' },
    cached: { type: 'boolean', description: 'Answered from the response cache.' },
    // A plain string, not the done frame's enum: stored rows outlive changes to that enum.
    finish_reason: { type: 'string' },
    prompt_tokens: { type: 'integer', minimum: 0 },
    completion_tokens: { type: 'integer', minimum: 0 },
    tool_calls: {
      type: 'array',
      minItems: 1,
      description:
        "The answer's tool calls, in OpenAI's shape; absent when it made none. A call cut by a token " +
        'limit (`finish_reason` "length") has its arguments as far as they were written.',
      // Plain strings, not the request's name pattern: stored rows outlive changes to it.
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'type', 'function'],
        properties: {
          id: { type: 'string' },
          type: { const: 'function' },
          function: {
            type: 'object',
            additionalProperties: false,
            required: ['name', 'arguments'],
            properties: { name: { type: 'string' }, arguments: { type: 'string' } },
          },
        },
      },
    },
  },
} as const;

/** `turns`: the answer, newest turn first; `session_id` is the resolved conversation id. */
export const memoryTurnsReplySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'request_id', 'session_id', 'turns'],
  properties: {
    type: { const: 'turns' },
    request_id: { type: 'string', pattern: ID_PATTERN },
    session_id: { type: 'string', pattern: ID_PATTERN },
    turns: { type: 'array', maxItems: MEMORY_LAST_MAX_LIMIT, items: memoryTurnSchema },
  },
} as const;

/**
 * `error`: the query failed (`session_not_found` for an unknown session and for another
 * tenant's alike). `error` has the shape of an error frame's; `request_id` is `unknown` when the
 * query could not be read.
 */
export const memoryErrorReplySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'request_id', 'error'],
  properties: {
    type: { const: 'error' },
    request_id: { type: 'string', pattern: ID_PATTERN },
    error: errorFrameSchema.properties.error,
  },
} as const;

/** The one reply to a memory query, discriminated by `type`. */
export const memoryLastReplySchema = {
  $id: 'urn:agentbus:bus:memory-last-reply:v1',
  title: 'MemoryLastReply',
  type: 'object',
  required: ['type'],
  properties: { type: { enum: ['turns', 'error'] } },
  discriminator: { propertyName: 'type' },
  oneOf: [memoryTurnsReplySchema, memoryErrorReplySchema],
} as const;

/** A memory query (type derived from {@link memoryLastRequestSchema}). */
export type MemoryLastRequest = FromSchema<typeof memoryLastRequestSchema>;
/** A stored turn (type derived from {@link memoryTurnSchema}). */
export type MemoryTurn = FromSchema<typeof memoryTurnSchema>;
/** The reply to a memory query (type derived from {@link memoryLastReplySchema}). */
export type MemoryLastReply = FromSchema<typeof memoryLastReplySchema>;
/** A successful reply (type derived from {@link memoryTurnsReplySchema}). */
export type MemoryTurnsReply = FromSchema<typeof memoryTurnsReplySchema>;
