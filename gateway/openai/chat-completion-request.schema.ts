import type { FromSchema } from 'json-schema-to-ts';
import { functionNameSchema, MAX_TOKENS_LIMIT, SPEECH_VOICES, toolCallIdSchema } from '../../bus-schemas/index.js';

// The shapes below mirror bus-schemas/tools.schema.ts but accept extra fields: clients (the
// openai SDK's runners among them) send back objects carrying fields of their own. The
// conversion to the envelope copies only what the bus knows.
const toolCallSchema = {
  type: 'object',
  required: ['id', 'type', 'function'],
  properties: {
    id: toolCallIdSchema,
    type: { const: 'function' },
    function: {
      type: 'object',
      required: ['name', 'arguments'],
      properties: { name: functionNameSchema, arguments: { type: 'string' } },
    },
  },
} as const;

const toolDefinitionSchema = {
  type: 'object',
  required: ['type', 'function'],
  properties: {
    type: { const: 'function' },
    function: {
      type: 'object',
      required: ['name'],
      properties: {
        name: functionNameSchema,
        description: { type: 'string' },
        parameters: { type: 'object' },
        strict: { type: ['boolean', 'null'] },
      },
    },
  },
} as const;

const namedToolChoiceSchema = {
  type: 'object',
  required: ['type', 'function'],
  properties: {
    type: { const: 'function' },
    function: { type: 'object', required: ['name'], properties: { name: functionNameSchema } },
  },
} as const;

const jsonSchemaSchema = {
  type: 'object',
  required: ['name'],
  properties: {
    name: functionNameSchema,
    description: { type: 'string' },
    schema: { type: 'object' },
    strict: { type: ['boolean', 'null'] },
  },
} as const;

/**
 * One content part. Which parts a role may carry (images only from the user, …) is checked
 * when the request is converted, so the error can name the exact part.
 */
const contentPartSchema = {
  type: 'object',
  required: ['type'],
  properties: {
    type: { enum: ['text', 'image_url', 'input_audio', 'file', 'refusal'] },
    text: { type: 'string' },
    // Nullable as in OpenAI's API: @openai/agents replays every part with `refusal: null`.
    refusal: { type: ['string', 'null'] },
    image_url: {
      type: 'object',
      required: ['url'],
      properties: { url: { type: 'string', minLength: 1 }, detail: { enum: ['auto', 'low', 'high'] } },
    },
  },
} as const;

const nullableNumber = (minimum: number, maximum: number) => ({ type: ['number', 'null'], minimum, maximum }) as const;

/**
 * `POST /v1/chat/completions` body: the part of OpenAI's request that agentbus maps to the
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
          role: { enum: ['system', 'developer', 'user', 'assistant', 'tool', 'function'] },
          content: {
            description:
              'a string, null, or an array of content parts ' +
              '({"type": "text", "text": "…"}, {"type": "image_url", "image_url": {"url": "data:…"}})',
            anyOf: [{ type: 'string' }, { type: 'null' }, { type: 'array', items: contentPartSchema }],
          },
          name: { type: 'string', minLength: 1, maxLength: 64 },
          tool_calls: { type: ['array', 'null'], items: toolCallSchema },
          tool_call_id: toolCallIdSchema,
          refusal: { type: ['string', 'null'] },
          // A spoken answer sent back as history: its id stands for its transcript (chat-audio-history.ts).
          audio: {
            type: ['object', 'null'],
            required: ['id'],
            properties: { id: { type: 'string', minLength: 1, maxLength: 256 } },
          },
        },
      },
    },
    stream: { type: ['boolean', 'null'] },
    stream_options: {
      type: ['object', 'null'],
      // null as not sent, as OpenAI takes it (its SDKs and proxies send unset fields as null).
      properties: { include_usage: { type: ['boolean', 'null'] } },
    },
    temperature: nullableNumber(0, 2),
    top_p: nullableNumber(0, 1),
    max_tokens: { type: ['integer', 'null'], minimum: 1, maximum: MAX_TOKENS_LIMIT },
    max_completion_tokens: { type: ['integer', 'null'], minimum: 1, maximum: MAX_TOKENS_LIMIT },
    stop: {
      description: 'a non-empty string or an array of at most 4 non-empty strings',
      anyOf: [
        { type: 'string', minLength: 1 },
        { type: 'array', maxItems: 4, items: { type: 'string', minLength: 1 } },
        { type: 'null' },
      ],
    },
    // OpenAI's int64 bounds; 2 ** 63 itself passes, as JSON.parse reads int64's largest, 9223372036854775807, as it.
    seed: { type: ['integer', 'null'], minimum: -(2 ** 63), maximum: 2 ** 63 },
    presence_penalty: nullableNumber(-2, 2),
    frequency_penalty: nullableNumber(-2, 2),
    reasoning_effort: {
      description: '"none", "minimal", "low", "medium" or "high"',
      anyOf: [{ enum: ['none', 'minimal', 'low', 'medium', 'high'] }, { type: 'null' }],
    },
    // OpenAI's, passed on to an OpenAI-compatible upstream (ChatRequest's verbosity and service_tier).
    verbosity: {
      description: '"low", "medium" or "high"',
      anyOf: [{ enum: ['low', 'medium', 'high'] }, { type: 'null' }],
    },
    service_tier: {
      description: '"auto", "default", "flex", "scale" or "priority"',
      anyOf: [{ enum: ['auto', 'default', 'flex', 'scale', 'priority'] }, { type: 'null' }],
    },
    user: { type: ['string', 'null'], maxLength: 256 },
    // false: no memory (no session read or written, no turn, no cache entry), as on /v1/responses.
    store: { type: ['boolean', 'null'] },
    metadata: {
      type: ['object', 'null'],
      maxProperties: 16,
      propertyNames: { maxLength: 64 },
      additionalProperties: { type: 'string', maxLength: 512 },
      description: 'at most 16 string values, keys up to 64 characters, values up to 512',
    },
    // How many (MAX_TOOLS) and how big (MAX_TOOL_SCHEMA_BYTES) is checked by input-limits.ts, with codes of its own.
    // An empty list is refused, as OpenAI refuses it ("[] is too short - 'tools'"): send none instead.
    tools: { type: ['array', 'null'], minItems: 1, items: toolDefinitionSchema },
    tool_choice: {
      anyOf: [{ enum: ['none', 'auto', 'required'] }, namedToolChoiceSchema, { type: 'null' }],
      description: '"none", "auto", "required" or {"type": "function", "function": {"name": …}}',
    },
    parallel_tool_calls: { type: ['boolean', 'null'] },
    // OpenAI's audio output (chat-audio-request.ts): the answer is also spoken by a voice agent.
    modalities: {
      type: ['array', 'null'],
      minItems: 1,
      uniqueItems: true,
      items: { enum: ['text', 'audio'] },
      description: '["text"] or ["text", "audio"]',
    },
    audio: {
      type: ['object', 'null'],
      required: ['voice', 'format'],
      properties: {
        voice: { enum: SPEECH_VOICES },
        // OpenAI's list (its SDK's ChatCompletionAudioParam); pcm16 is the speech bus's pcm.
        format: { enum: ['wav', 'mp3', 'flac', 'opus', 'pcm16', 'aac'] },
      },
    },
    // One object whose `type` requires `json_schema` (if/then), not an anyOf of the three forms:
    // a missing json_schema is then named as OpenAI names it, not reported as a wrong `type`.
    response_format: {
      description:
        '{"type": "text"}, {"type": "json_object"} ' +
        'or {"type": "json_schema", "json_schema": {"name": …, "schema": {…}}}',
      type: ['object', 'null'],
      required: ['type'],
      properties: { type: { enum: ['text', 'json_object', 'json_schema'] } },
      if: { required: ['type'], properties: { type: { const: 'json_schema' } } },
      then: { required: ['json_schema'], properties: { json_schema: jsonSchemaSchema } },
    },
  },
} as const;

export type ChatCompletionRequest = FromSchema<typeof chatCompletionRequestSchema>;

/** `response_format.json_schema`, which the derived request type leaves `unknown` (it is under `then`). */
export type JsonSchemaFormat = FromSchema<typeof jsonSchemaSchema>;

/**
 * The same body on per-agent routes (`/agents/<agent>/v1/…`): the path names the agent, so
 * `model` may be left out, and when sent it is only a hint.
 */
export const perAgentChatRequestSchema = { ...chatCompletionRequestSchema, required: ['messages'] } as const;

/** A chat body on any route: `model` is optional on per-agent routes. */
export type ChatBody = FromSchema<typeof perAgentChatRequestSchema>;
