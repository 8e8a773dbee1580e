import type { FromSchema } from 'json-schema-to-ts';
import { samplingOptionsSchema, SUBJECT_TOKEN_PATTERN } from '../bus-schemas/index.js';

/** Every model provider a worker can use; `workers/providers/index.ts` has one factory for each. */
export const PROVIDER_NAMES = ['ollama', 'llama-cpp', 'openai'] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

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
        required: ['name', 'description', 'system_prompt'],
        properties: {
          name: { type: 'string', pattern: SUBJECT_TOKEN_PATTERN, maxLength: 64 },
          description: { type: 'string', minLength: 1 },
          system_prompt: { type: 'string', minLength: 1 },
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
              'after the system prompt, before history.',
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
