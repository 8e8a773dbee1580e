import type { FromSchema } from 'json-schema-to-ts';
import { SPEECH_FORMATS, SPEECH_MAX_INPUT_CHARS } from '../../bus-schemas/index.js';

/**
 * `POST /v1/audio/speech` body, as OpenAI's. `instructions` is refused by name rather than ignored;
 * `stream_format` `audio` streams the bytes as they are made, `sse` as OpenAI's events.
 */
export const speechRequestBodySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['model', 'input', 'voice'],
  properties: {
    model: { type: 'string', minLength: 1, maxLength: 256 },
    input: { type: 'string', minLength: 1, maxLength: SPEECH_MAX_INPUT_CHARS },
    voice: { type: 'string', minLength: 1, maxLength: 64 },
    // null is "not given", as on OpenAI and the chat and embeddings routes (Python's None).
    response_format: { enum: [...SPEECH_FORMATS, null] },
    speed: { type: ['number', 'null'], minimum: 0.25, maximum: 4 },
    stream_format: { enum: ['audio', 'sse', null] },
    instructions: { type: ['string', 'null'] },
  },
} as const;

/** The same body on per-agent routes (`/agents/<agent>/v1/audio/speech`): the path names the agent. */
export const perAgentSpeechRequestBodySchema = { ...speechRequestBodySchema, required: ['input', 'voice'] } as const;

export type SpeechBody = FromSchema<typeof perAgentSpeechRequestBodySchema>;
