import type { FromSchema } from 'json-schema-to-ts';
import { samplingOptionsSchema, SUBJECT_TOKEN_PATTERN } from '../bus-schemas/index.js';

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
          history_turns: { type: 'integer', minimum: 0, maximum: 200, description: 'Stored turns fed back to the model (default 10).' },
        },
      },
    },
  },
} as const;

export type AgentCatalogFile = FromSchema<typeof agentCatalogSchema>;
export type AgentDefinitionFile = AgentCatalogFile['agents'][number];
