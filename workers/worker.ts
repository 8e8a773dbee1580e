import type { Bus } from '../common/bus.js';
import type { Kysely } from 'kysely';
import { subjectsFor } from '../bus-schemas/index.js';
import type { Agent } from '../common/catalog.js';
import type { Logger } from '../common/logger.js';
import { openResponseCache } from './cache/response-cache.js';
import type { CacheMode } from './cache/cache-policy.js';
import type { AdmissionSettings } from './admission.js';
import { startAgentService, type RunningAgentService } from './agent-service.js';
import type { MemoryHealth } from './memory/health.js';
import { memoryIdentity } from './memory/identity.js';
import type { MemoryDatabase } from './memory/schema.js';
import type { ProviderChains } from './providers/chain.js';
import type { AudioChains } from './audio/chains.js';
import type { TranscriptionSettings } from './transcription/settings.js';

export interface WorkerDeps {
  bus: Bus;
  db: Kysely<MemoryDatabase>;
  /**
   * How this worker reaches models (`createProviderChains`): its providers and their circuit
   * breakers, made once per process and shared by all its agents.
   */
  providers: ProviderChains;
  agents: readonly Agent[];
  subjectPrefix: string;
  /** CACHE_TTL_SECONDS: 0 disables the shared response cache. */
  cacheTtlSeconds: number;
  /** CACHE_MODE; default `deterministic`. */
  cacheMode?: CacheMode;
  /** MAX_INFLIGHT, MAX_QUEUED, QUEUE_TIMEOUT_MS (see admission.ts); defaults when omitted. */
  admission?: Readonly<AdmissionSettings>;
  /** The providers' probes, for `$SRV.STATS` (see backend-health.ts). */
  backendHealth?: { snapshot(): Record<string, number> } | undefined;
  /** Where memory is, named when it cannot be written: `DATA_DIR (…)` or `DATABASE_URL (…)` (memory/settings.ts). */
  memoryAt?: string | undefined;
  /** Whether the memory database takes writes (memory/health.ts). */
  memoryHealth?: MemoryHealth | undefined;
  /** AGENTBUS_RESTARTS, for `$SRV.STATS` (common/restarts.ts). */
  restarts?: number;
  /** The voice agents' chains of audio engines (audio/from-config.ts); espeak-ng alone when omitted. */
  audio?: AudioChains;
  /** POCKETSPHINX_PATH, POCKETSPHINX_MODEL_DIR, FFMPEG_PATH for voice agents that listen; defaults when omitted. */
  transcription?: Readonly<TranscriptionSettings>;
  log: Logger;
}

/**
 * Starts serving `agents` on an open NATS connection and migrated database. Owns neither:
 * the caller (main.ts, or a test) closes them after `stop()`.
 */
export async function startWorker(deps: WorkerDeps): Promise<RunningAgentService> {
  const cache = await openResponseCache({
    bus: deps.bus,
    ttlSeconds: deps.cacheTtlSeconds,
    ...(deps.cacheMode ? { mode: deps.cacheMode } : {}),
    log: deps.log,
  });
  const memoryId = await memoryIdentity(deps.db, deps.log);
  return startAgentService({ ...deps, cache, memoryId, subjects: subjectsFor(deps.subjectPrefix) });
}
