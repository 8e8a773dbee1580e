import type { FromSchema } from 'json-schema-to-ts';
import { ID_PATTERN } from './chat-request.schema.js';
import { errorFrameSchema, fallbackStepSchema } from './reply-frames.schema.js';
import { SPEECH_CHUNK_BYTES } from './speech.schema.js';
import { SUBJECT_TOKEN_PATTERN } from './subjects.js';
import { ACCEPTED_PROTOCOL_VERSIONS } from './version.js';

/** The containers an upload may be in (sniffed by the gateway from its first bytes); `mp4` holds m4a too. */
export const TRANSCRIPTION_FORMATS = ['wav', 'mp3', 'ogg', 'flac', 'webm', 'mp4'] as const;
/** The largest upload the bus contract allows at all; the gateway's MAX_AUDIO_UPLOAD_BYTES is lower. */
export const TRANSCRIPTION_MAX_BYTES = 256 * 1024 * 1024;

/**
 * Published on `<prefix>.<agent>.transcribe` with a reply subject: "this audio is coming, write
 * it down". One worker of the agent's queue group answers `ready` with the subject the audio
 * goes to ({@link transcriptionUploadSchema}), then `done` with the text.
 */
export const transcriptionRequestSchema = {
  $id: 'urn:agentbus:bus:transcription-request:v1',
  title: 'TranscriptionRequest',
  type: 'object',
  additionalProperties: false,
  required: ['v', 'request_id', 'intent', 'model', 'format', 'bytes', 'tenant', 'timeout_ms'],
  properties: {
    v: { enum: ACCEPTED_PROTOCOL_VERSIONS, description: 'Protocol version (bus-schemas/version.ts).' },
    request_id: { type: 'string', pattern: ID_PATTERN, description: 'Unique per request; echoed in every frame.' },
    intent: {
      type: 'string',
      pattern: SUBJECT_TOKEN_PATTERN,
      description: 'The voice agent; must match the subject it was published on.',
    },
    model: { type: 'string', description: 'What the client asked for (the agent or one of its aliases).' },
    format: { enum: TRANSCRIPTION_FORMATS, description: 'The container of the uploaded audio.' },
    bytes: {
      type: 'integer',
      minimum: 1,
      maximum: TRANSCRIPTION_MAX_BYTES,
      description: 'Size of the upload; the audio frames must add up to it.',
    },
    language: { type: 'string', description: 'ISO-639-1 language of the audio, when the client named it.' },
    translate: {
      type: 'boolean',
      description: 'English text of the audio (POST /v1/audio/translations); absent, the words as spoken.',
    },
    private: {
      type: 'boolean',
      description: "Only engines in the worker's LOCAL_AUDIO_PROVIDERS may hear the audio.",
    },
    tenant: { type: 'string', pattern: ID_PATTERN, description: "Id of the caller's API key." },
    timeout_ms: { type: 'integer', minimum: 100, maximum: 3_600_000, description: 'How long the worker may take.' },
    traceparent: { type: 'string', description: 'W3C trace context.' },
    created_at: { type: 'integer', description: 'Epoch milliseconds when the gateway accepted the request.' },
  },
} as const;

const seq = { type: 'integer', minimum: 0, description: 'Gap-free from 0 within one direction.' } as const;
const requestId = { type: 'string', pattern: ID_PATTERN } as const;

/** `audio` (gateway → worker): the next bytes of the upload, base64, at most SPEECH_CHUNK_BYTES before encoding. */
export const transcriptionAudioFrameSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'seq', 'request_id', 'data'],
  properties: {
    type: { const: 'audio' },
    seq,
    request_id: requestId,
    data: { type: 'string', minLength: 1, maxLength: Math.ceil(SPEECH_CHUNK_BYTES / 3) * 4 },
  },
} as const;

/** `end` (gateway → worker): every audio frame was sent; `bytes` is their total, for the worker to check. */
export const transcriptionEndFrameSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'seq', 'request_id', 'bytes'],
  properties: {
    type: { const: 'end' },
    seq,
    request_id: requestId,
    bytes: { type: 'integer', minimum: 1, maximum: TRANSCRIPTION_MAX_BYTES },
  },
} as const;

/** What the gateway sends on the worker's upload subject: `audio`…, then `end`. */
export const transcriptionUploadSchema = {
  $id: 'urn:agentbus:bus:transcription-upload:v1',
  title: 'TranscriptionUpload',
  oneOf: [transcriptionAudioFrameSchema, transcriptionEndFrameSchema],
} as const;

/** `ready` (seq 0): a worker took the request; the audio goes to `upload`, one of the worker's inboxes. */
export const transcriptionReadyFrameSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'seq', 'request_id', 'upload', 'provider', 'worker'],
  properties: {
    type: { const: 'ready' },
    seq,
    request_id: requestId,
    upload: { type: 'string', minLength: 1, description: "Subject of the upload: the worker's `_INBOX.worker.…`." },
    provider: { type: 'string', description: 'The engine expected to listen: `pocketsphinx` or `openai`.' },
    worker: { type: 'string', description: "The worker's micro service id." },
  },
} as const;

const seconds = { type: 'number', minimum: 0 } as const;

/** `done`: the transcript, its utterances (segments) and words with their times in seconds. */
export const transcriptionDoneFrameSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'seq', 'request_id', 'text', 'language', 'duration', 'segments', 'words', 'processing_ms'],
  properties: {
    type: { const: 'done' },
    seq,
    request_id: requestId,
    text: { type: 'string' },
    language: { type: 'string', description: "The engine's language, e.g. `en`." },
    duration: { ...seconds, description: 'Length of the audio in seconds.' },
    segments: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['start', 'end', 'text'],
        properties: { start: seconds, end: seconds, text: { type: 'string' } },
      },
    },
    words: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['word', 'start', 'end'],
        properties: { word: { type: 'string' }, start: seconds, end: seconds },
      },
    },
    processing_ms: { type: 'integer', minimum: 0 },
    provider: {
      type: 'string',
      description: "The engine that heard it (`pocketsphinx`, `openai`): `ready`'s, unless that one failed.",
    },
    fallback: {
      type: 'array',
      description: 'The steps away from the first engine of the chain, when it did not answer.',
      items: fallbackStepSchema,
    },
  },
} as const;

/** One reply frame of a transcription: `ready`, then exactly one `done` or `error`. */
export const transcriptionFrameSchema = {
  $id: 'urn:agentbus:bus:transcription-frame:v1',
  title: 'TranscriptionFrame',
  oneOf: [transcriptionReadyFrameSchema, transcriptionDoneFrameSchema, errorFrameSchema],
} as const;

export type TranscriptionRequest = FromSchema<typeof transcriptionRequestSchema>;
export type TranscriptionUpload = FromSchema<typeof transcriptionUploadSchema>;
export type TranscriptionFrame = FromSchema<typeof transcriptionFrameSchema>;
export type TranscriptionFormat = (typeof TRANSCRIPTION_FORMATS)[number];
export type TranscriptionDone = Extract<TranscriptionFrame, { type: 'done' }>;
