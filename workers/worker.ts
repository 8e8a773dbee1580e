import type { NatsConnection } from '@nats-io/transport-node';
import type { Kysely } from 'kysely';
import { subjectsFor } from '../bus-schemas/index.js';
import type { Agent } from '../common/catalog.js';
import type { Logger } from '../common/logger.js';
import { startAgentService, type RunningAgentService } from './agent-service.js';
import type { MemoryDatabase } from './memory/schema.js';
import type { ChatProvider } from './providers/index.js';

export interface WorkerDeps {
  nc: NatsConnection;
  db: Kysely<MemoryDatabase>;
  provider: ChatProvider;
  agents: readonly Agent[];
  subjectPrefix: string;
  log: Logger;
}

/**
 * Starts serving `agents` on an open NATS connection and migrated database. Owns neither:
 * the caller (main.ts, or a test) closes them after `stop()`.
 */
export async function startWorker(deps: WorkerDeps): Promise<RunningAgentService> {
  return startAgentService({ ...deps, subjects: subjectsFor(deps.subjectPrefix) });
}
