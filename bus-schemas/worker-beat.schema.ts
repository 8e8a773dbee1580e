import type { FromSchema } from 'json-schema-to-ts';
import { ACCEPTED_PROTOCOL_VERSIONS } from './version.js';

/** How often a worker announces that it serves an agent ({@link workerBeatSchema}). */
export const WORKER_BEAT_MS = 1000;

/**
 * Published by every worker on `_INBOX.gateway.chat.<agent>.alive.<prefix>` for each agent it serves,
 * every {@link WORKER_BEAT_MS} (`Subjects.workerBeat`). A request's own heartbeats start only once a worker
 * has read it; these tell the gateway that the agent's workers are alive while a request still
 * waits to be read (a burst to a busy worker), so silence then is not taken for a dead worker.
 * `connection` changes whenever the worker's NATS connection is new: a request published before
 * may have been lost with the old one. `leaving` is the last beat of a worker that stops.
 */
export const workerBeatSchema = {
  $id: 'urn:agentbus:bus:worker-beat:v1',
  title: 'WorkerBeat',
  type: 'object',
  additionalProperties: false,
  required: ['v', 'worker', 'connection'],
  properties: {
    v: { enum: ACCEPTED_PROTOCOL_VERSIONS },
    worker: { type: 'string', minLength: 1, maxLength: 100 },
    connection: { type: 'string', minLength: 1, maxLength: 100 },
    leaving: { type: 'boolean' },
  },
} as const;

/** A worker's beat (type derived from {@link workerBeatSchema}). */
export type WorkerBeat = FromSchema<typeof workerBeatSchema>;
