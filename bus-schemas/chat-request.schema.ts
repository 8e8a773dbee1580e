import type { FromSchema } from 'json-schema-to-ts';
import { ACCEPTED_PROTOCOL_VERSIONS } from './version.js';
import { SUBJECT_TOKEN_PATTERN } from './subjects.js';
import {
  responseFormatSchema,
  toolCallIdSchema,
  toolChoiceSchema,
  toolDefinitionSchema,
  toolCallSchema,
} from './tools.schema.js';

/** Ids on the bus (request, session, tenant): safe in logs, headers and file names. */
export const ID_PATTERN = '^[A-Za-z0-9._:-]{1,128}$';

/** W3C trace context header value (`traceparent`). */
export const TRACEPARENT_PATTERN = '^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$';

const messageName = { type: 'string', minLength: 1, maxLength: 64 } as const;

/**
 * The largest answer cap a request may ask for (`max_tokens` and its other names): int32's
 * maximum, a safe integer every provider's parser reads. Above it (1e300, 99999999999) is no
 * real cap but a typo or an overflow, and would reach the model server as is.
 */
export const MAX_TOKENS_LIMIT = 2 ** 31 - 1;

/**
 * The message fields that say only how the client sent it, read back by `input_items` and never
 * shown to a model: whatever stands for "the same prompt" (the response cache key) leaves them out;
 * but `part_lengths` beside `image_parts`, which places the images among the texts.
 */
export const READ_BACK_ONLY_FIELDS = ['developer', 'part_lengths', 'refusal_parts'] as const;

/**
 * What joins a message's text parts in `content`: a model reading one string must not see "U1" and
 * "U2" glued into "U1U2". A newline, as vLLM joins them; stored turns from before have none.
 */
export const PART_SEPARATOR = '\n';

/**
 * How the client split `content`: kept so a stored message reads back as sent (`GET
 * /v1/responses/{id}/input_items`) and its images go upstream between the right texts.
 */
const partLengths = {
  type: 'array',
  minItems: 2,
  items: { type: 'integer', minimum: 0 },
  description:
    'Present when the client sent the content as several text parts: the length of each (UTF-16 code units), ' +
    'in order; `content` is the parts joined by a newline (by nothing in turns stored before; the lengths tell ' +
    'which). Read back as sent; only the openai provider uses it, to place `image_parts` among the texts.',
} as const;

/** Where each image of a user message sat and what it is, so a provider taking parts can send it as sent. */
const imageParts = {
  type: 'array',
  minItems: 1,
  maxItems: 16,
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['at', 'media_type'],
    properties: {
      at: { type: 'integer', minimum: 0, description: "The image's index among the message's content parts." },
      media_type: { type: 'string', pattern: '^image/[A-Za-z0-9.+-]+$', description: "From the image's data URL." },
      detail: { enum: ['auto', 'low', 'high'], description: "OpenAI's resolution hint, as the client sent it." },
    },
  },
  description:
    'One per image of `images`, in the same order (a gateway from before sends none: providers then put the ' +
    'images after the text, as PNG). The openai provider sends each image where it was, with its media type ' +
    "and `detail`; Ollama takes a message's images as a list and ignores this.",
} as const;

/**
 * One normalized chat message, discriminated by `role`. The gateway has already flattened
 * content parts to text and turned image parts into base64 `images` (Ollama's form, which
 * every provider can convert back), with `image_parts` saying where each was and what it is.
 */
export const chatMessageSchema = {
  type: 'object',
  required: ['role'],
  properties: { role: { enum: ['system', 'user', 'assistant', 'tool'] } },
  discriminator: { propertyName: 'role' },
  oneOf: [
    {
      type: 'object',
      additionalProperties: false,
      required: ['role', 'content'],
      properties: {
        role: { const: 'system' },
        content: { type: 'string' },
        name: messageName,
        developer: {
          const: true,
          description:
            "The client named the role `developer` (OpenAI's newer name for `system`): read back as sent; " +
            'a model sees a system message.',
        },
        part_lengths: partLengths,
      },
    },
    {
      type: 'object',
      additionalProperties: false,
      required: ['role', 'content'],
      properties: {
        role: { const: 'user' },
        content: { type: 'string' },
        name: messageName,
        part_lengths: partLengths,
        images: {
          type: 'array',
          minItems: 1,
          maxItems: 16,
          items: { type: 'string', minLength: 1, contentEncoding: 'base64' },
          description: 'Base64 image data (no data: prefix).',
        },
        image_parts: imageParts,
      },
    },
    {
      type: 'object',
      additionalProperties: false,
      required: ['role', 'content'],
      properties: {
        role: { const: 'assistant' },
        content: { type: 'string', description: 'Empty when the turn only called tools.' },
        name: messageName,
        part_lengths: partLengths,
        refusal_parts: {
          type: 'array',
          minItems: 1,
          items: { type: 'integer', minimum: 0 },
          description:
            'Which text parts (0-based, in `part_lengths` order; 0 for a content of one part) were `refusal` ' +
            'parts: read back as sent, never sent to a model.',
        },
        tool_calls: { type: 'array', minItems: 1, items: toolCallSchema },
      },
    },
    {
      type: 'object',
      additionalProperties: false,
      required: ['role', 'content', 'tool_call_id'],
      properties: {
        role: { const: 'tool' },
        content: { type: 'string' },
        tool_call_id: { ...toolCallIdSchema, description: 'The id of the tool call this message answers.' },
      },
    },
  ],
} as const;

/** Sampling options in OpenAI's terms; each provider maps them with its own parameter table. */
export const samplingOptionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    temperature: { type: 'number', minimum: 0, maximum: 2 },
    top_p: { type: 'number', minimum: 0, maximum: 1 },
    max_tokens: { type: 'integer', minimum: 1, maximum: MAX_TOKENS_LIMIT },
    stop: { type: 'array', maxItems: 4, items: { type: 'string', minLength: 1 } },
    seed: { type: 'integer' },
    presence_penalty: { type: 'number', minimum: -2, maximum: 2 },
    frequency_penalty: { type: 'number', minimum: -2, maximum: 2 },
    reasoning_effort: {
      enum: ['none', 'minimal', 'low', 'medium', 'high'],
      description: "How much a reasoning model thinks (Ollama's `think`); `none` turns thinking off.",
    },
  },
} as const;

/**
 * The chat request envelope: published on `<prefix>.<intent>.chat` with the reply inbox as the
 * NATS reply subject. Self-contained, so an operator can replay it byte for byte with `nats req`.
 */
export const chatRequestSchema = {
  $id: 'urn:agentbus:bus:chat-request:v1',
  title: 'ChatRequest',
  type: 'object',
  additionalProperties: false,
  required: [
    'v',
    'request_id',
    'session_id',
    'create_session',
    'intent',
    'model',
    'messages',
    'options',
    'stream',
    'timeout_ms',
    'heartbeat_ms',
    'tenant',
    'created_at',
  ],
  properties: {
    v: { enum: ACCEPTED_PROTOCOL_VERSIONS, description: 'Protocol version (bus-schemas/version.ts).' },
    request_id: {
      type: 'string',
      pattern: ID_PATTERN,
      description:
        'Unique per request; also the completion id clients see. A turn is stored at most once per request id.',
    },
    session_id: {
      type: 'string',
      pattern: ID_PATTERN,
      description: 'Conversation id, or any completion id of the conversation.',
    },
    create_session: {
      type: 'boolean',
      description:
        'True: start the conversation if it does not exist (the gateway sets it for ids it generated). ' +
        'False: it must exist for this tenant, else session_not_found.',
    },
    intent: { type: 'string', pattern: SUBJECT_TOKEN_PATTERN, description: 'Agent name; equals the subject token.' },
    model: {
      type: 'string',
      minLength: 1,
      maxLength: 256,
      description: 'The model the client asked for (the agent name on /v1/chat/completions).',
    },
    messages: { type: 'array', minItems: 1, items: chatMessageSchema },
    options: samplingOptionsSchema,
    tools: {
      type: 'array',
      minItems: 1,
      maxItems: 128,
      items: toolDefinitionSchema,
      description: 'Functions the model may call.',
    },
    tool_choice: toolChoiceSchema,
    parallel_tool_calls: { type: 'boolean', description: 'False: at most one tool call per answer.' },
    response_format: responseFormatSchema,
    user: {
      type: 'string',
      maxLength: 256,
      description: "The client's end-user id (OpenAI `user`), stored with the turn.",
    },
    metadata: {
      type: 'object',
      maxProperties: 16,
      propertyNames: { maxLength: 64 },
      additionalProperties: { type: 'string', maxLength: 512 },
      description: 'Client key/value tags (OpenAI `metadata`), stored with the turn.',
    },
    cache: {
      enum: ['use', 'refresh'],
      description:
        '"refresh" (the client sent Cache-Control: no-cache) skips the cache lookup ' +
        'but still stores the fresh answer. Absent: "use".',
    },
    priority: {
      enum: ['low', 'normal', 'high'],
      description:
        'The client\'s priority hint (X-Priority). Absent: "normal". ' +
        'Carried for workers and logs; it does not reorder work yet.',
    },
    private: {
      type: 'boolean',
      description:
        'True: only providers the worker counts as local (LOCAL_PROVIDERS) may see the request. ' +
        'Set from the X-Private header, a private WebSocket chat frame, or a secret found in the input.',
    },
    reasoning_deltas: {
      type: 'boolean',
      description:
        "True: the requester takes the model's thinking as `reasoning` in delta frames. Absent (an older " +
        'gateway): the worker drops it. Either way it never goes into `content` or memory.',
    },
    refusal_deltas: {
      type: 'boolean',
      description:
        "True: the requester takes the model's refusal (OpenAI's `refusal`) as `refusal` in delta frames, " +
        'apart from the text. Absent (an older gateway, or a route that renders only text): the refusal ' +
        "travels as the answer's text, in `content`. Memory stores it either way.",
    },
    max_tokens_param: {
      const: 'max_completion_tokens',
      description:
        "The client capped the answer with OpenAI's newer `max_completion_tokens` (or the Responses API's " +
        '`max_output_tokens`): the `openai` provider sends `options.max_tokens` under that name where ' +
        'OPENAI_MAX_TOKENS_PARAM says as sent (its default for api.openai.com, whose reasoning models require ' +
        'it). Absent (the client sent `max_tokens`, or an older gateway): `max_tokens`.',
    },
    verbosity: {
      enum: ['low', 'medium', 'high'],
      description:
        "How long an answer OpenAI's GPT-5 models write (Chat Completions' `verbosity`, the Responses API's " +
        '`text.verbosity`): the `openai` provider sends it on; Ollama and llama.cpp have no such setting.',
    },
    service_tier: {
      enum: ['auto', 'default', 'flex', 'scale', 'priority'],
      description:
        "OpenAI's processing tier, as the client asked for it: the `openai` provider sends it on; other " +
        'providers have no tiers.',
    },
    content_filter_finish: {
      type: 'boolean',
      description:
        "True: the requester takes `content_filter` as a done frame's finish_reason. Absent (an older gateway, " +
        'whose schema refuses that value): the worker sends `stop` for it, as before. Memory stores it either way.',
    },
    previous_response_id: {
      type: 'string',
      pattern: ID_PATTERN,
      description:
        "The Responses API's previous_response_id as the client sent it (session_id names the same " +
        'conversation): stored with the turn, so the stored response repeats it.',
    },
    input_appends: {
      type: 'boolean',
      description:
        'True (the Responses API): every message is new to the conversation, assistant turns included: the ' +
        'stored history comes before them, and all of them (the instructions aside) are stored with the turn. ' +
        'Absent: assistant messages mean the client sent its own history (Chat Completions).',
    },
    attempt: {
      type: 'integer',
      minimum: 2,
      maximum: 100,
      description:
        'Which attempt of this request id this is, from the second on (absent: the first): the gateway gave ' +
        'up on the earlier ones (no answer in time, their worker lost or silent) and takes no receipt from ' +
        "them, so a pending turn an earlier attempt left is replaced by this one's instead of being waited for.",
    },
    opens_with_instructions: {
      type: 'boolean',
      description:
        "True (the Responses API's `instructions`): the first message is the request's instructions, sent to " +
        'the model and never stored, as OpenAI carries no instructions into the next response. With ' +
        '`input_appends`, every other system message is an input item, stored and replayed with the turn.',
    },
    store: {
      type: 'boolean',
      description:
        "False: an internal call (the router's classifier) that reads no history " +
        'and writes no session, turn or cache entry. Absent: true.',
    },
    stream: {
      type: 'boolean',
      description: 'False lets the worker send the answer as one delta instead of one per token.',
    },
    timeout_ms: {
      type: 'integer',
      minimum: 100,
      maximum: 3_600_000,
      description:
        'How long the worker may take, counted from when it receives the envelope. ' +
        'Relative, so a stored envelope replays as-is and host clocks need not agree.',
    },
    heartbeat_ms: {
      type: 'integer',
      minimum: 50,
      maximum: 60000,
      description: 'Interval of heartbeat frames while the model is working.',
    },
    tenant: {
      type: 'string',
      pattern: ID_PATTERN,
      description: 'Id of the API key (a hash, never the key); sessions belong to it.',
    },
    traceparent: {
      type: 'string',
      pattern: TRACEPARENT_PATTERN,
      description: 'W3C trace context, also sent as a NATS header.',
    },
    created_at: {
      type: 'integer',
      minimum: 0,
      description: 'Epoch milliseconds when the gateway accepted the request.',
    },
  },
} as const;

/** A chat request envelope (type derived from {@link chatRequestSchema}). */
export type ChatRequest = FromSchema<typeof chatRequestSchema>;
/** One normalized chat message (type derived from {@link chatMessageSchema}). */
export type ChatMessage = FromSchema<typeof chatMessageSchema>;
/** Sampling options (type derived from {@link samplingOptionsSchema}). */
export type SamplingOptions = FromSchema<typeof samplingOptionsSchema>;
