import type { FromSchema } from 'json-schema-to-ts';
import { samplingOptionsSchema, SUBJECT_TOKEN_PATTERN } from '../bus-schemas/index.js';

/** Every model provider a worker can use; `workers/providers/index.ts` has one factory for each. */
export const PROVIDER_NAMES = ['ollama', 'llama-cpp', 'openai'] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

/**
 * Every audio engine a worker can use (`workers/audio/index.ts` has one factory for each):
 * `espeak-ng` speaks and `pocketsphinx` listens on the worker's machine, `openai` does both on an
 * OpenAI-compatible audio server.
 */
export const AUDIO_PROVIDER_NAMES = ['espeak-ng', 'pocketsphinx', 'openai'] as const;
export type AudioProviderName = (typeof AUDIO_PROVIDER_NAMES)[number];
/** The engines that speak (`speech.providers`, SPEECH_PROVIDER). */
export const SPEECH_PROVIDER_NAMES = ['espeak-ng', 'openai'] as const;
/** The engines that listen (`transcription.providers`, TRANSCRIPTION_PROVIDER). */
export const TRANSCRIPTION_PROVIDER_NAMES = ['pocketsphinx', 'openai'] as const;

/** What an agent answers: chat (the default) or embeddings (`POST /v1/embeddings`). */
export const AGENT_KINDS = ['chat', 'embedding'] as const;
export type AgentKind = (typeof AGENT_KINDS)[number];

/** The agent catalog file (`AGENTS_FILE`, default `config/agents.json`). */
export const agentCatalogSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['agents'],
  properties: {
    $schema: { type: 'string' },
    agents: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'description'],
        // A chat agent needs its system prompt; an embedding model has no prompt to take one.
        if: { required: ['kind'], properties: { kind: { const: 'embedding' } } },
        then: {},
        else: { required: ['system_prompt'], properties: { system_prompt: { type: 'string' } } },
        properties: {
          name: { type: 'string', pattern: SUBJECT_TOKEN_PATTERN, maxLength: 64 },
          description: { type: 'string', minLength: 1 },
          kind: {
            enum: AGENT_KINDS,
            description:
              'What the agent answers: "chat" (default; system_prompt required) or "embedding" ' +
              '(POST /v1/embeddings only; chat fields are not used).',
          },
          system_prompt: { type: 'string', minLength: 1 },
          matryoshka: {
            type: 'boolean',
            description:
              'Embedding agents: the model keeps its meaning in the leading dimensions (Matryoshka-trained, ' +
              'e.g. nomic-embed-text v1.5, text-embedding-3-*), so a request\'s "dimensions" is honoured by ' +
              'truncating and renormalizing. Otherwise "dimensions" is refused.',
          },
          speech: {
            type: 'object',
            additionalProperties: false,
            description:
              'The agent also speaks: POST /v1/audio/speech. `aliases` are other model names ' +
              'that reach it there (e.g. OpenAI\'s "tts-1"); `providers` its chain of audio engines.',
            properties: {
              aliases: { type: 'array', maxItems: 16, items: { type: 'string', minLength: 1, maxLength: 64 } },
              providers: {
                type: 'array',
                minItems: 1,
                maxItems: 8,
                description:
                  'Audio engines, tried in order when one fails before its first byte ' +
                  "(omitted → the worker's SPEECH_PROVIDER, espeak-ng by default).",
                items: {
                  type: 'object',
                  additionalProperties: false,
                  required: ['provider'],
                  properties: {
                    provider: { enum: SPEECH_PROVIDER_NAMES },
                    model: {
                      type: 'string',
                      minLength: 1,
                      maxLength: 128,
                      description: 'Model on this engine\'s server (openai; omitted → "tts-1"). espeak-ng has none.',
                    },
                  },
                },
              },
            },
          },
          transcription: {
            type: 'object',
            additionalProperties: false,
            description:
              'The agent also listens: POST /v1/audio/transcriptions. `aliases` are other model names that reach ' +
              'it there (e.g. OpenAI\'s "whisper-1"); `providers` its chain of transcription engines.',
            properties: {
              aliases: { type: 'array', maxItems: 16, items: { type: 'string', minLength: 1, maxLength: 64 } },
              providers: {
                type: 'array',
                minItems: 1,
                maxItems: 8,
                description:
                  'Transcription engines, tried in order when one fails before its transcript ' +
                  "(omitted → the worker's TRANSCRIPTION_PROVIDER, pocketsphinx by default).",
                items: {
                  type: 'object',
                  additionalProperties: false,
                  required: ['provider'],
                  properties: {
                    provider: { enum: TRANSCRIPTION_PROVIDER_NAMES },
                    model: {
                      type: 'string',
                      minLength: 1,
                      maxLength: 128,
                      description:
                        'Model on this engine\'s server (openai; omitted → "whisper-1"). pocketsphinx has none.',
                    },
                  },
                },
              },
            },
          },
          model: { type: 'string', minLength: 1, description: 'Backend model; omitted → DEFAULT_MODEL.' },
          options: samplingOptionsSchema,
          history_turns: {
            type: 'integer',
            minimum: 0,
            maximum: 200,
            description: 'Stored turns fed back to the model (default 10).',
          },
          examples: {
            type: 'array',
            maxItems: 20,
            description:
              'Few-shot examples: each becomes a user and an assistant message ' +
              "after the system message (the agent's system prompt and the request's instructions), before history.",
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['user', 'assistant'],
              properties: { user: { type: 'string', minLength: 1 }, assistant: { type: 'string', minLength: 1 } },
            },
          },
          providers: {
            type: 'array',
            minItems: 1,
            maxItems: 8,
            description:
              'Provider chain, tried in order when one fails before its first token ' +
              "(omitted → the worker's PROVIDER with this agent's model).",
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['provider'],
              properties: {
                provider: { enum: PROVIDER_NAMES },
                model: {
                  type: 'string',
                  minLength: 1,
                  description: "Model on this provider (omitted → the agent's model).",
                },
              },
            },
          },
          fallback: {
            type: 'string',
            pattern: SUBJECT_TOKEN_PATTERN,
            maxLength: 64,
            description:
              'Agent that answers when this one fails before its first token twice (the gateway retries once first).',
          },
          timeouts: {
            type: 'object',
            additionalProperties: false,
            description:
              'Per-agent limits (omitted → FIRST_TOKEN_TIMEOUT_MS and REQUEST_TIMEOUT_MS). ' +
              "A request's timeout hint may shorten them, never lengthen them.",
            properties: {
              first_token_ms: { type: 'integer', minimum: 100, maximum: 3_600_000 },
              total_ms: { type: 'integer', minimum: 100, maximum: 3_600_000 },
            },
          },
        },
      },
    },
  },
} as const;

export type AgentCatalogFile = FromSchema<typeof agentCatalogSchema>;
export type AgentDefinitionFile = AgentCatalogFile['agents'][number];
