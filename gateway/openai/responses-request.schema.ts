import type { FromSchema } from 'json-schema-to-ts';
import { functionNameSchema, ID_PATTERN, MAX_TOKENS_LIMIT, toolCallIdSchema } from '../../bus-schemas/index.js';
import { chatCompletionRequestSchema } from './chat-completion-request.schema.js';

const chat = chatCompletionRequestSchema.properties;

/**
 * One content part of an input message. Which parts a role may carry, and the image URL form,
 * are checked when the input is converted (responses-input.ts), so the error names the part.
 */
const inputPartSchema = {
  type: 'object',
  required: ['type'],
  properties: {
    // reasoning_text: the content of a reasoning item sent back as it was answered (the item is dropped).
    type: {
      enum: ['input_text', 'output_text', 'refusal', 'input_image', 'input_file', 'input_audio', 'reasoning_text'],
    },
    text: { type: 'string' },
    refusal: { type: ['string', 'null'] },
    image_url: { type: ['string', 'null'] },
    detail: { enum: ['auto', 'low', 'high'] },
  },
} as const;

/** One content part of a function call's output: text (taken), an image or a file (refused by name). */
const outputPartSchema = {
  type: 'object',
  required: ['type'],
  properties: {
    type: { enum: ['input_text', 'input_image', 'input_file'] },
    text: { type: 'string' },
  },
} as const;

/**
 * One input item: a message (`type` "message" or left out), a function call the model made, a
 * function call's output, or a reference to an item of a stored response (`item_reference`).
 * Other item types are refused by name when converted.
 */
const inputItemSchema = {
  type: 'object',
  properties: {
    type: { type: 'string' },
    id: { type: 'string', maxLength: 256, description: 'an item id; what an item_reference item names' },
    role: { enum: ['user', 'assistant', 'system', 'developer'] },
    content: {
      description: 'a string or an array of content parts ({"type": "input_text", "text": "…"}, …)',
      anyOf: [{ type: 'string' }, { type: 'array', items: inputPartSchema }],
    },
    call_id: toolCallIdSchema,
    name: functionNameSchema,
    arguments: { type: 'string' },
    output: {
      description: 'a string, or an array of content parts ({"type": "input_text", "text": "…"})',
      anyOf: [{ type: 'string' }, { type: 'array', items: outputPartSchema }],
    },
  },
} as const;

/** A function tool, in the Responses API's flat shape (no `function` wrapper). */
const functionToolSchema = {
  type: 'object',
  required: ['type'],
  properties: {
    type: { type: 'string' },
    name: functionNameSchema,
    description: { type: ['string', 'null'] },
    parameters: { type: ['object', 'null'] },
    strict: { type: ['boolean', 'null'] },
  },
} as const;

const textFormatSchema = {
  type: 'object',
  required: ['type'],
  properties: {
    type: { enum: ['text', 'json_object', 'json_schema'] },
    name: functionNameSchema,
    description: { type: 'string' },
    schema: { type: 'object' },
    strict: { type: ['boolean', 'null'] },
  },
} as const;

/**
 * `POST /v1/responses` body: the part of OpenAI's Responses API that agentbus maps onto its chat
 * pipeline. Parameters it cannot honour are refused by `responses-unsupported.ts`; other unknown
 * fields are accepted and not used, as on `/v1/chat/completions`.
 */
export const responsesRequestSchema = {
  type: 'object',
  required: ['model', 'input'],
  properties: {
    model: chat.model,
    input: {
      description:
        'a string, or an array of input items (messages, function_call, function_call_output, item_reference)',
      anyOf: [{ type: 'string' }, { type: 'array', minItems: 1, items: inputItemSchema }],
    },
    instructions: { type: ['string', 'null'] },
    previous_response_id: {
      type: ['string', 'null'],
      pattern: ID_PATTERN,
      description: 'the id of a stored response of this API key',
    },
    conversation: {
      description: 'a conversation id (a response\'s conversation.id), or {"id": that id}',
      anyOf: [
        { type: 'null' },
        { type: 'string', pattern: ID_PATTERN },
        { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: ID_PATTERN } } },
      ],
    },
    store: { type: ['boolean', 'null'] },
    stream: { type: ['boolean', 'null'] },
    temperature: chat.temperature,
    top_p: chat.top_p,
    max_output_tokens: {
      type: ['integer', 'null'],
      minimum: 16,
      maximum: MAX_TOKENS_LIMIT,
      description: 'at least 16, as OpenAI requires',
    },
    user: chat.user,
    metadata: chat.metadata,
    tools: { type: ['array', 'null'], items: functionToolSchema },
    tool_choice: {
      description: '"none", "auto", "required" or {"type": "function", "name": …}',
      anyOf: [
        { enum: ['none', 'auto', 'required'] },
        {
          type: 'object',
          required: ['type', 'name'],
          properties: { type: { const: 'function' }, name: functionNameSchema },
        },
        { type: 'null' },
      ],
    },
    parallel_tool_calls: chat.parallel_tool_calls,
    service_tier: chat.service_tier,
    reasoning: {
      type: ['object', 'null'],
      properties: {
        effort: chat.reasoning_effort,
        summary: {
          enum: ['auto', 'concise', 'detailed', null],
          description: '"auto" is accepted (no summary is made); "concise" and "detailed" are refused',
        },
      },
    },
    text: {
      type: ['object', 'null'],
      properties: { format: textFormatSchema, verbosity: chat.verbosity },
    },
  },
} as const;

/** The same body on per-agent routes (`/agents/<agent>/v1/responses`): the path names the agent. */
export const perAgentResponsesRequestSchema = { ...responsesRequestSchema, required: ['input'] } as const;

/** A Responses body on any route: `model` is optional on per-agent routes. */
export type ResponsesBody = FromSchema<typeof perAgentResponsesRequestSchema>;
export type ResponsesInputItem = Extract<ResponsesBody['input'], unknown[]>[number];
export type ResponsesInputPart = Extract<NonNullable<ResponsesInputItem['content']>, unknown[]>[number];
