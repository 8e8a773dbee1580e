import type { FromSchema } from 'json-schema-to-ts';
import { chatMessageSchema, ID_PATTERN } from './chat-request.schema.js';
import { memoryErrorReplySchema } from './memory-query.schema.js';
import { toolCallSchema } from './tools.schema.js';
import { ACCEPTED_PROTOCOL_VERSIONS } from './version.js';

/**
 * Published on `<prefix>.memory.response` with a reply subject: "read (`get`) or forget
 * (`delete`) the stored turn whose request id is `response_id`, if it belongs to `tenant`".
 * One worker of the `memory` queue group answers with one {@link memoryResponseReplySchema}
 * message. It serves `GET`/`DELETE /v1/responses/{id}` and `…/input_items`.
 */
export const memoryResponseRequestSchema = {
  $id: 'urn:agentbus:bus:memory-response-request:v1',
  title: 'MemoryResponseRequest',
  type: 'object',
  additionalProperties: false,
  required: ['v', 'request_id', 'tenant', 'response_id', 'op'],
  properties: {
    v: { enum: ACCEPTED_PROTOCOL_VERSIONS, description: 'Protocol version (bus-schemas/version.ts).' },
    request_id: { type: 'string', pattern: ID_PATTERN, description: 'Unique per query; echoed in the reply.' },
    tenant: { type: 'string', pattern: ID_PATTERN, description: 'Id of the API key asking; only its turns are found.' },
    response_id: { type: 'string', pattern: ID_PATTERN, description: 'The request id of the stored turn.' },
    op: {
      enum: ['get', 'delete'],
      description:
        '`get` reads the turn (of a fan-out, its aggregate part when stored, else its own, else its first ' +
        'part); `delete` removes it from memory, with its fan-out parts.',
    },
    refusal_apart: {
      type: 'boolean',
      description:
        "True: the reply's turn may carry `refusal`. Absent (an older gateway, whose schema refuses that field): " +
        "it is left out, and the refusal reads as the answer's text.",
    },
  },
} as const;

/** One committed turn, whole: what a stored response is rebuilt from. */
export const storedTurnSchema = {
  type: 'object',
  additionalProperties: false,
  required: [
    'request_id',
    'session_id',
    'agent',
    'model',
    'input_messages',
    'assistant_response',
    'tool_calls',
    'finish_reason',
    'prompt_tokens',
    'completion_tokens',
    'created_at',
    'metadata',
  ],
  properties: {
    request_id: { type: 'string', pattern: ID_PATTERN },
    session_id: { type: 'string', pattern: ID_PATTERN },
    agent: { type: 'string' },
    model: { type: 'string', description: 'Backend model that answered.' },
    input_messages: { type: 'array', items: chatMessageSchema, description: 'The messages the turn added.' },
    assistant_response: { type: 'string', description: "The answer's words, a refusal's included." },
    refusal: {
      type: 'string',
      description:
        "The model's refusal (OpenAI's `refusal`), also in `assistant_response` (at its end, unless the model " +
        'mixed it with text); absent when it did not refuse, and unless the query has `refusal_apart`.',
    },
    tool_calls: { anyOf: [{ type: 'array', items: toolCallSchema }, { type: 'null' }] },
    finish_reason: { type: 'string' },
    prompt_tokens: { type: 'integer', minimum: 0 },
    completion_tokens: { type: 'integer', minimum: 0 },
    created_at: { type: 'integer', minimum: 0, description: 'When the turn was stored (seconds since the epoch).' },
    metadata: {
      anyOf: [{ type: 'object', additionalProperties: { type: 'string' } }, { type: 'null' }],
      description: "The client's metadata, if any.",
    },
    previous_response_id: {
      type: 'string',
      pattern: ID_PATTERN,
      description: 'The previous_response_id the response was created with; absent when none.',
    },
    user: { type: 'string', description: "The client's end-user id (OpenAI `user`); absent when none." },
  },
} as const;

const storedTurnReplySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'request_id', 'turn'],
  properties: {
    type: { const: 'turn' },
    request_id: { type: 'string', pattern: ID_PATTERN },
    turn: storedTurnSchema,
  },
} as const;

const deletedReplySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'request_id', 'response_id'],
  properties: {
    type: { const: 'deleted' },
    request_id: { type: 'string', pattern: ID_PATTERN },
    response_id: { type: 'string', pattern: ID_PATTERN },
  },
} as const;

/**
 * The one reply, by `type`: `turn` (get), `deleted` (delete), or `error` (`response_not_found`
 * for an unknown id and another tenant's alike).
 */
export const memoryResponseReplySchema = {
  $id: 'urn:agentbus:bus:memory-response-reply:v1',
  title: 'MemoryResponseReply',
  type: 'object',
  required: ['type'],
  properties: { type: { enum: ['turn', 'deleted', 'error'] } },
  discriminator: { propertyName: 'type' },
  oneOf: [storedTurnReplySchema, deletedReplySchema, memoryErrorReplySchema],
} as const;

export type MemoryResponseRequest = FromSchema<typeof memoryResponseRequestSchema>;
export type StoredTurn = FromSchema<typeof storedTurnSchema>;
export type MemoryResponseReply = FromSchema<typeof memoryResponseReplySchema>;
