import type { FromSchema } from 'json-schema-to-ts';
import { ID_PATTERN } from './chat-request.schema.js';
import { errorFrameSchema, fallbackStepSchema } from './reply-frames.schema.js';
import { SUBJECT_TOKEN_PATTERN } from './subjects.js';
import { ACCEPTED_PROTOCOL_VERSIONS } from './version.js';

/** Most characters one speech request may carry (OpenAI's own limit). */
export const SPEECH_MAX_INPUT_CHARS = 4096;
/** Audio bytes per `audio` frame at most: 32 KiB, ~43 KiB once in base64, far below max_payload (1 MiB). */
export const SPEECH_CHUNK_BYTES = 32 * 1024;
/** The encodings a speech request may ask for (OpenAI's; `aac` is an ADTS stream). */
export const SPEECH_FORMATS = ['wav', 'mp3', 'opus', 'aac', 'flac', 'pcm'] as const;
/** OpenAI's voice names: what `voice` (speech) and `audio.voice` (chat) take; each worker engine maps them. */
export const SPEECH_VOICES = [
  'alloy',
  'ash',
  'ballad',
  'coral',
  'echo',
  'fable',
  'nova',
  'onyx',
  'sage',
  'shimmer',
  'verse',
  'marin',
  'cedar',
] as const;

/**
 * Published on `<prefix>.<agent>.speech` with a reply subject: "say this with this voice agent".
 * One worker of the agent's queue group answers with {@link speechFrameSchema} frames.
 */
export const speechRequestSchema = {
  $id: 'urn:agentbus:bus:speech-request:v1',
  title: 'SpeechRequest',
  type: 'object',
  additionalProperties: false,
  required: ['v', 'request_id', 'intent', 'model', 'input', 'voice', 'format', 'speed', 'tenant', 'timeout_ms'],
  properties: {
    v: { enum: ACCEPTED_PROTOCOL_VERSIONS, description: 'Protocol version (bus-schemas/version.ts).' },
    request_id: { type: 'string', pattern: ID_PATTERN, description: 'Unique per request; echoed in every frame.' },
    intent: {
      type: 'string',
      pattern: SUBJECT_TOKEN_PATTERN,
      description: 'The voice agent; must match the subject it was published on.',
    },
    model: { type: 'string', description: 'What the client asked for (the agent or one of its aliases).' },
    input: { type: 'string', minLength: 1, maxLength: SPEECH_MAX_INPUT_CHARS, description: 'The text to say.' },
    voice: { type: 'string', minLength: 1, maxLength: 64, description: "OpenAI's voice name (alloy, echo, …)." },
    format: { enum: SPEECH_FORMATS, description: 'The encoding of the audio frames.' },
    speed: { type: 'number', minimum: 0.25, maximum: 4, description: '1 is normal speed.' },
    private: { type: 'boolean', description: "Only providers in the worker's LOCAL_PROVIDERS may see the input." },
    tenant: { type: 'string', pattern: ID_PATTERN, description: "Id of the caller's API key." },
    timeout_ms: { type: 'integer', minimum: 100, maximum: 3_600_000, description: 'How long the worker may take.' },
    traceparent: { type: 'string', description: 'W3C trace context.' },
    created_at: { type: 'integer', description: 'Epoch milliseconds when the gateway accepted the request.' },
  },
} as const;

const seq = { type: 'integer', minimum: 0, description: 'Gap-free from 0 within one answer.' } as const;
const requestId = { type: 'string', pattern: ID_PATTERN } as const;

/** `start` (seq 0): the synthesis began; what the audio is. */
export const speechStartFrameSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'seq', 'request_id', 'voice', 'format', 'content_type', 'provider', 'worker'],
  properties: {
    type: { const: 'start' },
    seq,
    request_id: requestId,
    voice: { type: 'string', description: "The engine's voice, e.g. espeak-ng's `bn+f3`, or `alloy` (openai)." },
    format: { enum: SPEECH_FORMATS },
    content_type: { type: 'string', description: 'The HTTP Content-Type of the audio.' },
    provider: { type: 'string', description: 'The engine that speaks: `espeak-ng` or `openai`.' },
    worker: { type: 'string', description: "The worker's micro service id." },
    fallback: {
      type: 'array',
      items: fallbackStepSchema,
      description: "The steps away from the chain's first engine (absent when it spoke).",
    },
  },
} as const;

/** `audio`: the next bytes of the encoded audio, base64, at most SPEECH_CHUNK_BYTES before encoding. */
export const speechAudioFrameSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'seq', 'request_id', 'data'],
  properties: {
    type: { const: 'audio' },
    seq,
    request_id: requestId,
    data: { type: 'string', maxLength: Math.ceil(SPEECH_CHUNK_BYTES / 3) * 4 },
  },
} as const;

/** `done`: every audio frame was sent; `bytes` is their total, for the receiver to check. */
export const speechDoneFrameSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'seq', 'request_id', 'bytes', 'processing_ms'],
  properties: {
    type: { const: 'done' },
    seq,
    request_id: requestId,
    bytes: { type: 'integer', minimum: 0 },
    processing_ms: { type: 'integer', minimum: 0 },
  },
} as const;

/** One reply frame of a speech answer: `start`, `audio`…, then exactly one `done` or `error`. */
export const speechFrameSchema = {
  $id: 'urn:agentbus:bus:speech-frame:v1',
  title: 'SpeechFrame',
  oneOf: [speechStartFrameSchema, speechAudioFrameSchema, speechDoneFrameSchema, errorFrameSchema],
} as const;

export type SpeechRequest = FromSchema<typeof speechRequestSchema>;
export type SpeechFrame = FromSchema<typeof speechFrameSchema>;
export type SpeechFormat = (typeof SPEECH_FORMATS)[number];
