import type { FromSchema } from 'json-schema-to-ts';
import {
  agentPartSchema,
  deltaPayload,
  ERROR_CODES,
  fallbackStepSchema,
  FINISH_REASONS,
  ID_PATTERN,
  routingSchema,
  TRACEPARENT_PATTERN,
  usageSchema,
} from '../../bus-schemas/index.js';
import { chatCompletionRequestSchema } from '../openai/chat-completion-request.schema.js';
import { responsesRequestSchema } from '../openai/responses-request.schema.js';

/**
 * The WebSocket protocol of `GET /v1/ws` (docs/websocket.md): JSON text frames, each with a
 * `type`. These schemas are the single source of the frames' shapes: the gateway validates
 * every client frame with them, the types below are derived from them, the tests check every
 * server frame against them, and `npm run schemas` exports them for clients in other languages.
 */
export const WEBSOCKET_PROTOCOL_VERSION = 1 as const;

const requestId = {
  type: 'string',
  pattern: ID_PATTERN,
  description: 'Chosen by the client, unique among its requests in flight on this socket.',
} as const;

// `stream` and `stream_options` mean nothing here: a WebSocket answer always streams. They keep
// their types all the same, so a mistyped one (`"stream": "yes"`) is refused as over HTTP.
const IGNORED = 'Ignored: a WebSocket answer always streams.';
const { model, ...chatBodyProperties } = chatCompletionRequestSchema.properties;
const ignoredStream = { ...chatBodyProperties.stream, description: IGNORED } as const;

/** What HTTP carries in headers, as fields of a request frame (`chat`, `response.create`). */
const requestHints = {
  cache: {
    enum: ['use', 'refresh'],
    description: '"refresh" skips the response cache lookup (HTTP: Cache-Control: no-cache).',
  },
  traceparent: {
    type: 'string',
    pattern: TRACEPARENT_PATTERN,
    description: 'W3C trace context; a new trace starts when absent.',
  },
  private: { type: 'boolean', description: 'True keeps the request on local providers (HTTP: X-Private).' },
  priority: { enum: ['low', 'normal', 'high'], description: 'Priority hint (HTTP: X-Priority).' },
  timeout_ms: {
    type: 'integer',
    minimum: 100,
    maximum: 3_600_000,
    description:
      "The client gives up after this long; shorter than the agent's limits, it applies " +
      '(HTTP: X-Request-Timeout-Ms).',
  },
} as const;

/** `auth`: the first frame of a client that could not send an `Authorization` header (browsers). */
export const authFrameSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'api_key'],
  properties: {
    type: { const: 'auth' },
    api_key: { type: 'string', minLength: 1, maxLength: 4096 },
  },
} as const;

/**
 * `chat`: one request. The body is an OpenAI chat completion request (same fields, same limits,
 * unknown fields ignored as over HTTP) naming its agent in `agent` (or `model`), plus the
 * session to continue and cache control, which HTTP carries in headers.
 */
export const chatFrameSchema = {
  type: 'object',
  required: ['type', 'id', 'messages'],
  properties: {
    type: { const: 'chat' },
    id: requestId,
    agent: { ...model, description: 'The agent that answers ("model" is accepted in its place).' },
    model,
    session_id: {
      type: 'string',
      pattern: ID_PATTERN,
      description: "The conversation to continue (a done frame's conversation_id); absent starts a new one.",
    },
    ...requestHints,
    ...chatBodyProperties,
    stream: ignoredStream,
    stream_options: { ...chatBodyProperties.stream_options, description: IGNORED },
  },
} as const;

// `model` may be left out for the router, as in a chat frame.
const { model: _responsesModel, ...responsesBodyProperties } = responsesRequestSchema.properties;

/**
 * `response.create`: one request in the Responses API's shape (a `POST /v1/responses` body, as
 * OpenAI's WebSocket mode sends it), answered by the Responses events. `previous_response_id`
 * (a response) or `conversation` continues a conversation, as over HTTP.
 */
export const responseCreateFrameSchema = {
  type: 'object',
  required: ['type', 'id', 'input'],
  properties: {
    type: { const: 'response.create' },
    id: requestId,
    agent: { ...model, description: 'The agent that answers ("model" is accepted in its place).' },
    model,
    ...requestHints,
    ...responsesBodyProperties,
    stream: ignoredStream,
  },
} as const;

/** `cancel`: stop a request in flight. Cancelling an id that is not in flight does nothing. */
export const cancelFrameSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'id'],
  properties: {
    type: { const: 'cancel' },
    id: requestId,
  },
} as const;

/** `ping`: answered by a `pong` carrying the same `id`. */
export const pingFrameSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type'],
  properties: {
    type: { const: 'ping' },
    id: { type: 'string', maxLength: 128 },
  },
} as const;

/** The client frames by type: the gateway validates each against its own schema. */
export const CLIENT_FRAME_SCHEMAS = {
  auth: authFrameSchema,
  chat: chatFrameSchema,
  'response.create': responseCreateFrameSchema,
  cancel: cancelFrameSchema,
  ping: pingFrameSchema,
} as const;

/** Any client frame, discriminated by `type` (for the exported JSON document). */
export const clientFrameSchema = {
  $id: 'urn:agentbus:websocket:client-frame:v1',
  title: 'WebSocketClientFrame',
  type: 'object',
  required: ['type'],
  properties: { type: { enum: Object.keys(CLIENT_FRAME_SCHEMAS) } },
  discriminator: { propertyName: 'type' },
  oneOf: Object.values(CLIENT_FRAME_SCHEMAS),
} as const;

/** `ready`: authentication succeeded; the socket takes requests. */
export const readyFrameSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'v', 'agents', 'max_inflight'],
  properties: {
    type: { const: 'ready' },
    v: { const: WEBSOCKET_PROTOCOL_VERSION },
    agents: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'description'],
        properties: { name: { type: 'string' }, description: { type: 'string' } },
      },
    },
    max_inflight: { type: 'integer', minimum: 1, description: 'Requests this socket may have in flight at once.' },
  },
} as const;

// Per-request server frames carry the client's id and their own seq, from 0, without gaps.
const requestFrameBase = {
  id: requestId,
  seq: { type: 'integer', minimum: 0 },
} as const;

/** `delta`: a fragment of the answer: text, tool-call fragments (as OpenAI streams them), or both. */
export const serverDeltaFrameSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'id', 'seq'],
  anyOf: deltaPayload.anyOf,
  properties: {
    type: { const: 'delta' },
    ...requestFrameBase,
    ...deltaPayload.properties,
  },
} as const;

/** `done`: the answer ended (whole unless `finish_reason` says cut) and is stored. */
export const serverDoneFrameSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'id', 'seq', 'finish_reason', 'usage', 'meta', 'conversation_id', 'completion_id'],
  properties: {
    type: { const: 'done' },
    ...requestFrameBase,
    finish_reason: {
      enum: FINISH_REASONS,
      description: "`length` and `content_filter` (the backend's filter cut the answer): the answer is incomplete.",
    },
    usage: usageSchema,
    meta: {
      type: 'object',
      additionalProperties: false,
      required: ['memory_used', 'processing_time', 'cached', 'agent', 'model', 'worker'],
      properties: {
        memory_used: { type: 'boolean' },
        processing_time: { type: 'string', description: 'Seconds with two decimals, e.g. "0.12s" (as over HTTP).' },
        cached: { type: 'boolean' },
        agent: { type: 'string' },
        model: { type: 'string' },
        worker: { type: 'string' },
        confidence: { type: 'number', minimum: 0, maximum: 1 },
        provider: { type: 'string', description: "The provider of the agent's chain that answered." },
        fallback: {
          type: 'array',
          items: fallbackStepSchema,
          description: 'Steps away from the first choice (retry, fallback agent, next provider), in order.',
        },
        routing: routingSchema,
        agents: { type: 'array', items: agentPartSchema, description: "Each agent's part of a fan-out answer." },
      },
    },
    conversation_id: {
      type: 'string',
      pattern: ID_PATTERN,
      description: 'Send it as session_id to continue the conversation.',
    },
    completion_id: {
      type: 'string',
      description: 'The id an HTTP client would see as the completion id (chatcmpl-…).',
    },
  },
} as const;

/** `error`: a request's terminal failure (with its id), or a problem with the socket (id null). */
export const serverErrorFrameSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'id', 'error'],
  properties: {
    type: { const: 'error' },
    id: { anyOf: [requestId, { type: 'null' }] },
    seq: { type: 'integer', minimum: 0 },
    refused_id: {
      ...requestId,
      description:
        'The id the refused frame carried, when the error cannot carry it as `id` without ending another ' +
        'request: a `chat` or `response.create` whose id is in flight, or a `cancel` of an id not in flight.',
    },
    retry_after: {
      type: 'integer',
      minimum: 1,
      description:
        "Seconds to wait before sending the request again, as HTTP's Retry-After " +
        "(a request refused by the rate limiter, or every provider's circuit breaker open).",
    },
    error: {
      type: 'object',
      additionalProperties: false,
      required: ['message', 'type', 'param', 'code'],
      properties: {
        message: { type: 'string' },
        type: { type: 'string' },
        param: { type: ['string', 'null'] },
        code: { enum: ERROR_CODES as string[] },
      },
    },
  },
} as const;

/** The events of the Responses API's stream, each sent as a frame of a `response.create` request. */
export const RESPONSE_EVENT_TYPES = [
  'response.created',
  'response.in_progress',
  'response.output_item.added',
  'response.content_part.added',
  'response.output_text.delta',
  'response.output_text.done',
  'response.refusal.delta',
  'response.refusal.done',
  'response.reasoning_text.delta',
  'response.reasoning_text.done',
  'response.function_call_arguments.delta',
  'response.function_call_arguments.done',
  'response.content_part.done',
  'response.output_item.done',
  'response.completed',
  'response.incomplete',
  'response.failed',
] as const;

/**
 * A Responses event (as `POST /v1/responses` streams it) tagged with the request's `id`. Its
 * `sequence_number` counts the request's frames from 0 without gaps, as `seq` does for a chat.
 * The payload is OpenAI's; docs/api.md lists what each event carries.
 */
export const responseEventFrameSchema = {
  type: 'object',
  required: ['type', 'id', 'sequence_number'],
  properties: {
    type: { enum: RESPONSE_EVENT_TYPES },
    id: requestId,
    sequence_number: { type: 'integer', minimum: 0 },
    response: {
      type: 'object',
      required: ['id', 'object', 'status', 'output'],
      properties: {
        id: { type: 'string' },
        object: { const: 'response' },
        status: { enum: ['in_progress', 'completed', 'incomplete', 'failed'] },
        output: { type: 'array' },
      },
    },
    item: {
      type: 'object',
      required: ['id', 'type'],
      properties: { id: { type: 'string' }, type: { enum: ['message', 'function_call', 'reasoning'] } },
    },
    item_id: { type: 'string' },
    output_index: { type: 'integer', minimum: 0 },
    content_index: { type: 'integer', minimum: 0 },
    delta: { type: 'string' },
  },
} as const;

/** `pong`: the answer to a `ping`. */
export const pongFrameSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type'],
  properties: {
    type: { const: 'pong' },
    id: { type: 'string', maxLength: 128 },
  },
} as const;

/** Any server frame, discriminated by `type`. */
export const serverFrameSchema = {
  $id: 'urn:agentbus:websocket:server-frame:v1',
  title: 'WebSocketServerFrame',
  type: 'object',
  required: ['type'],
  properties: { type: { enum: ['ready', 'delta', 'done', 'error', 'pong', ...RESPONSE_EVENT_TYPES] } },
  discriminator: { propertyName: 'type' },
  oneOf: [
    readyFrameSchema,
    serverDeltaFrameSchema,
    serverDoneFrameSchema,
    serverErrorFrameSchema,
    pongFrameSchema,
    responseEventFrameSchema,
  ],
} as const;

export type AuthFrame = FromSchema<typeof authFrameSchema>;
export type ChatFrame = FromSchema<typeof chatFrameSchema>;
export type ResponseCreateFrame = FromSchema<typeof responseCreateFrameSchema>;
export type CancelFrame = FromSchema<typeof cancelFrameSchema>;
export type PingFrame = FromSchema<typeof pingFrameSchema>;
export type ClientFrame = AuthFrame | ChatFrame | ResponseCreateFrame | CancelFrame | PingFrame;
export type ReadyFrame = FromSchema<typeof readyFrameSchema>;
export type ServerDeltaFrame = FromSchema<typeof serverDeltaFrameSchema>;
export type ServerDoneFrame = FromSchema<typeof serverDoneFrameSchema>;
export type ServerErrorFrame = FromSchema<typeof serverErrorFrameSchema>;
export type PongFrame = FromSchema<typeof pongFrameSchema>;
export type ResponseEventFrame = FromSchema<typeof responseEventFrameSchema> & Record<string, unknown>;
export type ServerFrame =
  ReadyFrame | ServerDeltaFrame | ServerDoneFrame | ServerErrorFrame | PongFrame | ResponseEventFrame;
