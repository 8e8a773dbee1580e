import type { FromSchema } from 'json-schema-to-ts';

/** Pattern of a tier name; the same as the keys file's `tier` field (gateway/auth/keys-file.schema.ts). */
export const RATE_TIER_NAME_PATTERN = '^[a-z][a-z0-9_-]{0,31}$';

const limit = (description: string) => ({ type: 'integer', minimum: 1, maximum: 1_000_000_000, description }) as const;

/**
 * The rate tiers file (`RATE_TIERS_FILE`, default `config/rate-tiers.json`): per tier, how many
 * chat requests a key may send per minute, hour and day (token buckets that refill at that
 * rate), how many it may have in flight at once, and how many body bytes it may send per minute.
 * A limit left out is no limit.
 */
export const rateTiersSchema = {
  $id: 'urn:agentbus:config:rate-tiers:v1',
  title: 'RateTiers',
  type: 'object',
  additionalProperties: false,
  required: ['tiers'],
  properties: {
    $schema: { type: 'string' },
    tiers: {
      type: 'object',
      minProperties: 1,
      maxProperties: 100,
      propertyNames: { pattern: RATE_TIER_NAME_PATTERN },
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        properties: {
          description: { type: 'string', maxLength: 500 },
          requests_per_minute: limit('Chat requests per minute (a bucket of this many tokens refilled over a minute).'),
          requests_per_hour: limit('Chat requests per hour.'),
          requests_per_day: limit('Chat requests per day.'),
          concurrent_streams: limit(
            'Chat requests (streamed or not, HTTP and WebSocket) a key may have in flight at once.',
          ),
          max_input_bytes: limit(
            'Bytes of chat request bodies (and WebSocket chat frames) a key may send per minute: a bucket of ' +
              'this many bytes refilled over a minute. A body larger than this is refused (413).',
          ),
        },
      },
    },
  },
} as const;

export type RateTiersFile = FromSchema<typeof rateTiersSchema>;
