import type { FromSchema } from 'json-schema-to-ts';
import { chatCompletionRequestSchema } from './chat-completion-request.schema.js';

const chat = chatCompletionRequestSchema.properties;

/**
 * `POST /v1/completions` body (OpenAI's legacy text completions). The sampling fields are the
 * chat body's own, so both routes accept the same values. What agentbus cannot honour
 * (`suffix`, `echo`, several prompts, token prompts, `best_of`, `logprobs`) is typed as OpenAI
 * types it (a value of another type is a 400, not taken as "off") and refused by name, when
 * asked for, in `completion-to-chat-input.ts`; `prompt` loosely, for those named refusals.
 */
export const completionRequestSchema = {
  type: 'object',
  required: ['model', 'prompt'],
  properties: {
    model: chat.model,
    prompt: {
      description: 'a string, or an array holding one string (token arrays are refused)',
      anyOf: [{ type: 'string' }, { type: 'array' }],
    },
    stream: chat.stream,
    stream_options: chat.stream_options,
    temperature: chat.temperature,
    top_p: chat.top_p,
    max_tokens: chat.max_tokens,
    stop: chat.stop,
    seed: chat.seed,
    presence_penalty: chat.presence_penalty,
    frequency_penalty: chat.frequency_penalty,
    user: chat.user,
    store: chat.store,
    suffix: { type: ['string', 'null'] },
    echo: { type: ['boolean', 'null'] },
    best_of: { type: ['integer', 'null'], minimum: 0, maximum: 20 },
    logprobs: { type: ['integer', 'null'], minimum: 0, maximum: 5 },
  },
} as const;

/** The same body on per-agent routes: the path names the agent, `model` is only a hint. */
export const perAgentCompletionRequestSchema = { ...completionRequestSchema, required: ['prompt'] } as const;

export type CompletionBody = FromSchema<typeof perAgentCompletionRequestSchema>;
