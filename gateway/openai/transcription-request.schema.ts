import type { FromSchema } from 'json-schema-to-ts';
import { TRANSCRIPTION_RESPONSE_FORMATS } from '../transcription/render.js';

const granularity = { enum: ['word', 'segment'] } as const;
const granularities = { anyOf: [granularity, { type: 'array', maxItems: 2, items: granularity }] } as const;

/**
 * `POST /v1/audio/transcriptions`, multipart/form-data, as OpenAI's: every field is a string
 * there (`temperature` too; checked as a number by the route). `file` is the upload, a Buffer.
 * Fields pocketsphinx cannot honour (`prompt`, `include[]`, `chunking_strategy` and its `[…]` form
 * fields) are listed so the route refuses them by name rather than as unknown; `stream` is checked
 * by the route.
 */
export const transcriptionRequestBodySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['file', 'model'],
  properties: {
    file: { description: 'The audio: wav, mp3, ogg, flac, webm, mp4 or m4a.' },
    model: { type: 'string', minLength: 1, maxLength: 256 },
    language: { type: 'string', minLength: 2, maxLength: 16 },
    prompt: { type: 'string', maxLength: 8192 },
    response_format: { enum: TRANSCRIPTION_RESPONSE_FORMATS },
    // Its number is checked by the route, whose message says what is wanted (a pattern's would not).
    temperature: { type: 'string', maxLength: 32 },
    'timestamp_granularities[]': granularities,
    timestamp_granularities: granularities,
    stream: { type: 'string', maxLength: 8 },
    'include[]': {},
    include: {},
    chunking_strategy: {},
  },
  // The SDKs send an object `chunking_strategy` as form fields `chunking_strategy[type]`, … .
  patternProperties: { '^chunking_strategy\\[\\w+\\]$': {} },
} as const;

/**
 * `POST /v1/audio/translations`, as OpenAI's: the transcription's body without `language` (the text
 * comes in English whatever was spoken) nor the fields only transcriptions take.
 */
export const translationRequestBodySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['file', 'model'],
  properties: {
    file: transcriptionRequestBodySchema.properties.file,
    model: transcriptionRequestBodySchema.properties.model,
    prompt: transcriptionRequestBodySchema.properties.prompt,
    response_format: transcriptionRequestBodySchema.properties.response_format,
    temperature: transcriptionRequestBodySchema.properties.temperature,
  },
} as const;

/** The same body on per-agent routes (`/agents/<agent>/v1/audio/transcriptions`): the path names the agent. */
export const perAgentTranscriptionRequestBodySchema = {
  ...transcriptionRequestBodySchema,
  required: ['file'],
} as const;

export type TranscriptionBody = FromSchema<typeof perAgentTranscriptionRequestBodySchema>;

export const perAgentTranslationRequestBodySchema = { ...translationRequestBodySchema, required: ['file'] } as const;
