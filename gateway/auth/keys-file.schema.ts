import type { FromSchema } from 'json-schema-to-ts';
import { SUBJECT_TOKEN_PATTERN } from '../../bus-schemas/index.js';
// One pattern for a tier name, wherever it is written: the tiers file and the keys file.
import { RATE_TIER_NAME_PATTERN } from '../rate-limit/rate-tiers.schema.js';

const timestamp = { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?Z$' } as const;

/**
 * The keys file (`KEYS_FILE`, default `<DATA_DIR>/keys.json`), written by `npm run keys`: one
 * entry per API key, holding the SHA-256 of the key and never the key itself, so a copy of
 * the file does not let anyone in.
 */
export const keysFileSchema = {
  $id: 'urn:agentbus:config:keys-file:v1',
  title: 'KeysFile',
  type: 'object',
  additionalProperties: false,
  required: ['keys'],
  properties: {
    $schema: { type: 'string' },
    keys: {
      type: 'array',
      maxItems: 10000,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'name', 'sha256', 'agents', 'tier', 'created_at'],
        properties: {
          id: {
            type: 'string',
            pattern: '^[A-Za-z0-9_-]{1,64}$',
            description: 'Stable id shown by `npm run keys -- list`; `revoke` takes it (or the name).',
          },
          name: {
            type: 'string',
            pattern: '^[A-Za-z0-9._-]{1,64}$',
            description: 'Who the key is for; unique in the file.',
          },
          sha256: {
            type: 'string',
            pattern: '^[0-9a-f]{64}$',
            description:
              'Lower-case hex SHA-256 of the key. The tenant owning its sessions is "key_" + its first 16 characters.',
          },
          agents: {
            description: 'Agents the key may call: a list of agent names, or "*" for every agent.',
            oneOf: [
              { const: '*' },
              {
                type: 'array',
                minItems: 1,
                maxItems: 500,
                uniqueItems: true,
                items: { type: 'string', pattern: SUBJECT_TOKEN_PATTERN, maxLength: 64 },
              },
            ],
          },
          tier: {
            type: 'string',
            pattern: RATE_TIER_NAME_PATTERN,
            description:
              'Rate-limit tier, a tier of RATE_TIERS_FILE (shipped: standard, premium, unlimited); ' +
              'a name the tiers file lacks is limited as its strictest tier.',
          },
          private: {
            type: 'boolean',
            description: 'Every request of this key is private: answered by local providers only. Default false.',
          },
          created_at: { ...timestamp, description: 'When the key was created (ISO 8601, UTC).' },
          revoked_at: {
            ...timestamp,
            description: 'When the key was revoked; absent while it is valid. A revoked key is refused with 401.',
          },
        },
      },
    },
  },
} as const;

export type KeysFile = FromSchema<typeof keysFileSchema>;
export type KeyEntry = KeysFile['keys'][number];
