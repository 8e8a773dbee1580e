import type { FromSchema } from 'json-schema-to-ts';
import { ID_PATTERN } from './chat-request.schema.js';
import { ACCEPTED_PROTOCOL_VERSIONS } from './version.js';

/**
 * Published on `<prefix>.<agent>.cancel` when the requester no longer wants the answer (the client went
 * away). The worker holding the request aborts the model call and stores nothing.
 */
export const cancelRequestSchema = {
  $id: 'urn:agentbus:bus:cancel-request:v1',
  title: 'CancelRequest',
  type: 'object',
  additionalProperties: false,
  required: ['v', 'request_id', 'reason'],
  properties: {
    v: { enum: ACCEPTED_PROTOCOL_VERSIONS },
    request_id: { type: 'string', pattern: ID_PATTERN },
    reason: { type: 'string', maxLength: 200 },
  },
} as const;

/** A cancel request (type derived from {@link cancelRequestSchema}). */
export type CancelRequest = FromSchema<typeof cancelRequestSchema>;
