import type { FromSchema } from 'json-schema-to-ts';
import { ID_PATTERN } from './chat-request.schema.js';

/**
 * The requester's answer to a `done` frame sent as a request (protocol v2): whether the client
 * received the whole answer. Only `delivered: true` commits the turn; anything else — `false`,
 * no responders, no answer in time — discards it, so it never appears in the conversation.
 */
export const deliveryReceiptSchema = {
  $id: 'urn:agentbus:bus:delivery-receipt:v2',
  title: 'DeliveryReceipt',
  type: 'object',
  additionalProperties: false,
  required: ['v', 'request_id', 'delivered'],
  properties: {
    v: { const: 2, description: 'Protocol version that introduced receipts.' },
    request_id: { type: 'string', pattern: ID_PATTERN, description: 'The request of the `done` frame.' },
    delivered: {
      type: 'boolean',
      description: 'True once the whole answer reached the client (JSON body written, [DONE] sent, done frame sent).',
    },
    reason: { type: 'string', maxLength: 200, description: 'Why not delivered, for the worker log.' },
  },
} as const;

/**
 * Past the request's own deadline, how long a worker waits for the receipt of a `done` it sent;
 * without one it discards the turn. The gateway cuts a client that has not taken the whole answer
 * by then (a slow reader of a long answer), so an answer it completes is never one memory dropped.
 */
export const RECEIPT_GRACE_MS = 10_000;

/** A delivery receipt (type derived from {@link deliveryReceiptSchema}). */
export type DeliveryReceipt = FromSchema<typeof deliveryReceiptSchema>;
