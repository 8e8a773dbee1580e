import type { FromSchema } from 'json-schema-to-ts';
import { usageSchema } from './reply-frames.schema.js';
import { toolCallSchema } from './tools.schema.js';

/**
 * A model answer as workers store it in the shared response cache (a JetStream KV value):
 * enough to replay it as a completion or a stream. Every worker reads what any other wrote,
 * so it is part of the contract like the bus messages.
 */
export const cachedAnswerSchema = {
  $id: 'urn:agentbus:bus:cached-answer:v1',
  title: 'CachedAnswer',
  type: 'object',
  additionalProperties: false,
  required: ['content', 'finish_reason', 'usage', 'model', 'stored_at'],
  properties: {
    content: { type: 'string' },
    tool_calls: { type: 'array', items: toolCallSchema },
    finish_reason: { enum: ['stop', 'length', 'tool_calls'] },
    usage: usageSchema,
    model: { type: 'string', description: 'The backend model that produced the answer.' },
    stored_at: {
      type: 'integer',
      minimum: 0,
      description: 'Epoch milliseconds when the answer was stored; older than the TTL reads as a miss.',
    },
  },
} as const;

/** A cached answer (type derived from {@link cachedAnswerSchema}). */
export type CachedAnswer = FromSchema<typeof cachedAnswerSchema>;
