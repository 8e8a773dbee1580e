import type { FromSchema } from 'json-schema-to-ts';

/**
 * The secret patterns file (`SECRET_PATTERNS_FILE`, default `config/secrets.json`): what counts
 * as a secret in chat input. A match makes a request private (when SECRETS_MAKE_PRIVATE is on),
 * and is replaced by `[REDACTED:<name>]` in every log line and in anything a worker sends to a
 * provider that is not local.
 */
export const secretPatternsSchema = {
  $id: 'urn:agentbus:config:secret-patterns:v1',
  title: 'SecretPatterns',
  type: 'object',
  additionalProperties: false,
  required: ['patterns'],
  properties: {
    $schema: { type: 'string' },
    patterns: {
      type: 'array',
      maxItems: 200,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'regex'],
        properties: {
          name: {
            type: 'string',
            pattern: '^[a-z0-9_]{1,64}$',
            description: 'Shown in the replacement: [REDACTED:<name>].',
          },
          regex: {
            type: 'string',
            minLength: 1,
            maxLength: 2000,
            description: 'A JavaScript regular expression (no slashes).',
          },
          flags: { type: 'string', pattern: '^[imsu]*$', description: 'Extra flags; "g" is always added.' },
        },
      },
    },
  },
} as const;

export type SecretPatternsFile = FromSchema<typeof secretPatternsSchema>;
