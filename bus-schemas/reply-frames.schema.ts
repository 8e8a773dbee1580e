import type { FromSchema } from 'json-schema-to-ts';
import { ERROR_CODE_PATTERN, ERROR_CODES } from './errors.js';
import { ID_PATTERN } from './chat-request.schema.js';
import { toolCallFragmentSchema } from './tools.schema.js';

// Fields every frame carries: the type, a per-request sequence number starting at 0 (the
// receiver checks for gaps), and the request id so a `nats sub` shows whose frame it is.
const frameBase = {
  seq: { type: 'integer', minimum: 0 },
  request_id: { type: 'string', pattern: ID_PATTERN },
} as const;

/** `ack`: a worker took the request; carries the resolved conversation id. */
export const ackFrameSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'seq', 'request_id', 'worker', 'conversation_id'],
  properties: {
    type: { const: 'ack' },
    ...frameBase,
    worker: { type: 'string', minLength: 1, description: 'Worker instance id (the NATS micro service id).' },
    conversation_id: { type: 'string', pattern: ID_PATTERN, description: 'The conversation the turn belongs to.' },
    cached: {
      type: 'boolean',
      description:
        'The answer comes from the response cache (so the gateway can say so in headers before the first delta).',
    },
  },
} as const;

/**
 * What a delta carries, here and in the gateway's WebSocket `delta` frame: text, tool-call
 * fragments, the model's thinking (`reasoning`, only when the envelope has `reasoning_deltas`),
 * the model's refusal (`refusal`, only when the envelope has `refusal_deltas`), and at least one
 * of them (ajv's strict mode wants each property declared next to its `required`).
 */
export const deltaPayload = {
  anyOf: [
    { required: ['content'], properties: { content: { type: 'string' } } },
    { required: ['tool_calls'], properties: { tool_calls: { type: 'array' } } },
    { required: ['reasoning'], properties: { reasoning: { type: 'string' } } },
    { required: ['refusal'], properties: { refusal: { type: 'string' } } },
  ],
  properties: {
    content: { type: 'string' },
    tool_calls: { type: 'array', minItems: 1, items: toolCallFragmentSchema },
    reasoning: { type: 'string', description: "The model's thinking, apart from the answer." },
    refusal: {
      type: 'string',
      description: "The model's refusal to answer (OpenAI's `refusal`), apart from the answer's text.",
    },
  },
} as const;

/** `delta`: a fragment of the answer, in order: text, tool-call fragments, or both. */
export const deltaFrameSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'seq', 'request_id'],
  anyOf: deltaPayload.anyOf,
  properties: {
    type: { const: 'delta' },
    ...frameBase,
    ...deltaPayload.properties,
  },
} as const;

/** `heartbeat`: the worker is alive and the model still working. */
export const heartbeatFrameSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'seq', 'request_id'],
  properties: {
    type: { const: 'heartbeat' },
    ...frameBase,
    generating: {
      const: true,
      description:
        'Sent once on a non-streamed request when the model produced its first token, ' +
        "which travels only at the end: the gateway's first-token limit stops counting.",
    },
  },
} as const;

/** Token counts reported by the model backend. */
export const usageSchema = {
  type: 'object',
  additionalProperties: false,
  description:
    "The backend's token counts. An OpenAI-compatible server that reports none (it ignores stream_options): " +
    'estimated by the worker, never zeros for an answer it gave.',
  required: ['prompt_tokens', 'completion_tokens', 'total_tokens'],
  properties: {
    prompt_tokens: { type: 'integer', minimum: 0 },
    completion_tokens: { type: 'integer', minimum: 0 },
    total_tokens: { type: 'integer', minimum: 0 },
    completion_tokens_details: {
      type: 'object',
      additionalProperties: false,
      required: ['reasoning_tokens'],
      description:
        'Present only when the backend tells: the part of completion_tokens spent thinking. Ollama does not, ' +
        'so nothing is estimated for it.',
      properties: { reasoning_tokens: { type: 'integer', minimum: 0 } },
    },
  },
} as const;

/**
 * One step away from the first choice, in order: the same agent again (`retry`), the agent's
 * fallback agent (`agent`, decided by the gateway), or the next provider of the agent's chain
 * (`provider`, decided by the worker).
 */
export const fallbackStepSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['kind', 'from', 'to', 'reason'],
  properties: {
    kind: { enum: ['retry', 'agent', 'provider'] },
    from: { type: 'string', description: 'The agent or provider that failed.' },
    to: { type: 'string', description: 'The agent or provider tried next.' },
    reason: {
      type: 'string',
      description:
        'Error code of the failed attempt (or "circuit_open" for a provider skipped by its breaker, ' +
        '"not_local" for one a private request may not use).',
    },
  },
} as const;

/** How the gateway chose the agent(s): set by the gateway, never by a worker. */
export const routingSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['agents', 'by', 'reason'],
  properties: {
    agents: { type: 'array', minItems: 1, items: { type: 'string' } },
    by: {
      enum: ['path', 'model', 'rule', 'classifier', 'default'],
      description:
        'path: /agents/<name>/…; model: the body named the agent; rule: the routing table; ' +
        'classifier: the classifier agent; default: nothing matched.',
    },
    rule: { type: 'string', description: 'Name of the routing rule that matched.' },
    aggregator: { type: 'string', description: 'Agent that combined the answers of a fan-out.' },
    reason: { type: 'string' },
  },
} as const;

/** One agent's part of a fan-out answer: set by the gateway. */
export const agentPartSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['agent', 'status', 'processing_ms'],
  properties: {
    agent: { type: 'string' },
    status: { enum: ['ok', 'error'] },
    processing_ms: {
      type: 'integer',
      minimum: 0,
      description: "From the fan-out start to this agent's terminal frame.",
    },
    model: { type: 'string' },
    provider: { type: 'string' },
    usage: usageSchema,
    error: {
      type: 'object',
      additionalProperties: false,
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' } },
    },
    fallback: { type: 'array', items: fallbackStepSchema },
  },
} as const;

/** Why an answer ended, in OpenAI's terms: the bus's `done` frame and the gateway's WebSocket `done`. */
export const FINISH_REASONS = ['stop', 'length', 'tool_calls', 'content_filter'] as const;

/** The backend stopped the answer before its end: a token limit or a content filter cut it. */
export const cutShort = (finishReason: string): boolean =>
  finishReason === 'length' || finishReason === 'content_filter';

/** `done`: terminal success; the turn is already stored when this is sent. */
export const doneFrameSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'seq', 'request_id', 'finish_reason', 'usage', 'meta'],
  properties: {
    type: { const: 'done' },
    ...frameBase,
    finish_reason: {
      enum: FINISH_REASONS,
      description:
        "`content_filter`: the backend's filter cut or withheld the answer; sent only when the envelope has " +
        '`content_filter_finish` (a gateway from before would refuse the frame), otherwise `stop`.',
    },
    usage: usageSchema,
    meta: {
      type: 'object',
      additionalProperties: false,
      required: ['conversation_id', 'memory_used', 'cached', 'processing_ms', 'agent', 'model', 'worker'],
      properties: {
        conversation_id: { type: 'string', pattern: ID_PATTERN },
        memory_used: { type: 'boolean', description: 'Stored history was fed to the model.' },
        cached: { type: 'boolean' },
        processing_ms: {
          type: 'integer',
          minimum: 0,
          description: 'Time the worker spent, from receipt to stored turn.',
        },
        agent: { type: 'string' },
        model: { type: 'string', description: 'Backend model that answered.' },
        worker: { type: 'string' },
        confidence: { type: 'number', minimum: 0, maximum: 1 },
        provider: {
          type: 'string',
          description: "The provider of the agent's chain that answered (ollama, llama-cpp, openai).",
        },
        fallback: {
          type: 'array',
          items: fallbackStepSchema,
          description: 'Steps away from the first choice before this answer, in order.',
        },
        routing: { ...routingSchema, description: 'Added by the gateway: how the agent(s) were chosen.' },
        agents: {
          type: 'array',
          items: agentPartSchema,
          description: "Added by the gateway to a fan-out answer: each agent's part.",
        },
      },
    },
  },
} as const;

/** `error`: terminal failure; nothing was stored. */
export const errorFrameSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'seq', 'request_id', 'error'],
  properties: {
    type: { const: 'error' },
    ...frameBase,
    error: {
      type: 'object',
      additionalProperties: false,
      required: ['code', 'message', 'retryable'],
      properties: {
        code: {
          type: 'string',
          // The known codes, listed for readers of the schema; a newer sender's code passes the pattern.
          anyOf: [{ enum: ERROR_CODES as string[] }, { pattern: ERROR_CODE_PATTERN }],
          description:
            'a code of the error table (bus-schemas/errors.ts), or a snake_case code added to it since, ' +
            'which a receiver that does not know it reads as internal_error (invalid_request for a 4xx status)',
        },
        message: { type: 'string' },
        retryable: { type: 'boolean' },
        status: { type: 'integer', minimum: 400, maximum: 599 },
        param: { type: ['string', 'null'] },
        retry_after_ms: {
          type: 'integer',
          minimum: 1,
          description:
            'How long until a retry can succeed (an open circuit breaker, an upstream rate limit): ' +
            'the HTTP Retry-After.',
        },
      },
    },
  },
} as const;

/**
 * Any reply frame, discriminated by `type`. After the terminal frame (`done` or `error`) the
 * worker sends one empty message so generic clients (`nats req --replies 0`) stop cleanly.
 */
export const replyFrameSchema = {
  $id: 'urn:agentbus:bus:reply-frame:v1',
  title: 'ReplyFrame',
  type: 'object',
  required: ['type'],
  properties: { type: { enum: ['ack', 'delta', 'heartbeat', 'done', 'error'] } },
  discriminator: { propertyName: 'type' },
  oneOf: [ackFrameSchema, deltaFrameSchema, heartbeatFrameSchema, doneFrameSchema, errorFrameSchema],
} as const;

/** Any reply frame (type derived from {@link replyFrameSchema}). */
export type ReplyFrame = FromSchema<typeof replyFrameSchema>;
/** An `ack` frame (type derived from {@link ackFrameSchema}). */
export type AckFrame = FromSchema<typeof ackFrameSchema>;
/** A `delta` frame (type derived from {@link deltaFrameSchema}). */
export type DeltaFrame = FromSchema<typeof deltaFrameSchema>;
/** A `heartbeat` frame (type derived from {@link heartbeatFrameSchema}). */
export type HeartbeatFrame = FromSchema<typeof heartbeatFrameSchema>;
/** A `done` frame (type derived from {@link doneFrameSchema}). */
export type DoneFrame = FromSchema<typeof doneFrameSchema>;
/** An `error` frame (type derived from {@link errorFrameSchema}). */
export type ErrorFrame = FromSchema<typeof errorFrameSchema>;
/** A fallback step (type derived from {@link fallbackStepSchema}). */
export type FallbackStep = FromSchema<typeof fallbackStepSchema>;
/** A routing decision (type derived from {@link routingSchema}). */
export type Routing = FromSchema<typeof routingSchema>;
/** One agent's part of a fan-out (type derived from {@link agentPartSchema}). */
export type AgentPart = FromSchema<typeof agentPartSchema>;
/** Token counts (type derived from {@link usageSchema}). */
export type Usage = FromSchema<typeof usageSchema>;
/** A frame before the sender stamps `seq` and `request_id` on it. */
export type UnsequencedFrame =
  | Omit<AckFrame, 'seq' | 'request_id'>
  | Omit<DeltaFrame, 'seq' | 'request_id'>
  | Omit<HeartbeatFrame, 'seq' | 'request_id'>
  | Omit<DoneFrame, 'seq' | 'request_id'>
  | Omit<ErrorFrame, 'seq' | 'request_id'>;
