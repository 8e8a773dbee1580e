import { createHash } from 'node:crypto';
import { jetstream, JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { LONGEST_WINDOW_MS } from './rate-tiers.js';

/** The KV bucket every gateway replica shares unless told otherwise (RATE_LIMIT_BUCKET). */
export const DEFAULT_RATE_LIMIT_BUCKET = 'agentbus_rate_limits';

// An idle tenant's entry expires (max age) once every bucket would be full again anyway, plus a
// margin for clock skew between replicas. nats-server 2.9 has no per-message TTL: the bucket's
// max age is the only expiry, and every update restarts it for that entry.
const ENTRY_MAX_AGE_MS = LONGEST_WINDOW_MS + 3_600_000;
// Opening may create the stream on disk (or on a cluster), which takes longer than a read.
const OPEN_TIMEOUT_MS = 2_000;
// After a failure the bucket is opened again, at most this often: during a JetStream outage only
// one request a second waits for an open to time out, the others go through at once.
const REOPEN_INTERVAL_MS = 1_000;
// Replicas updating one tenant at once retry this many times in all before giving up.
export const MAX_CAS_ATTEMPTS = 8;

/** The store did not answer in time or failed: the caller decides whether to fail open. */
export class StoreUnavailableError extends Error {
  override name = 'StoreUnavailableError';
}

/** Every attempt lost a compare-and-set to another writer of the same tenant. */
export class StoreContentionError extends Error {
  override name = 'StoreContentionError';
}

/**
 * What an update does with the current value: `write` to store (undefined: store nothing) and
 * the `result` to hand back. Called again, with the newer value, after a lost race.
 */
export type Update<R> = (current: string | undefined) => { write: string | undefined; result: R };

/** Per-tenant entries in a JetStream KV bucket, changed by compare-and-set only. */
export interface TenantStore {
  update<R>(tenant: string, change: Update<R>): Promise<R>;
  /** Opens (or creates) the bucket now; later calls reopen it after a failure. */
  open(): Promise<void>;
}

/** A KV key for a tenant id: ids made of key-safe characters as they are, others hashed. */
export function keyOf(tenant: string): string {
  return /^[-\w=]{1,200}$/.test(tenant) ? `t.${tenant}` : `h.${createHash('sha256').update(tenant).digest('hex')}`;
}

const isConflict = (err: unknown) => err instanceof JetStreamApiError
  && (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StoreUnavailableError(`rate limit store: ${what} took longer than ${ms} ms`)), ms);
  });
  // The loser of the race may still fail later; that must not be an unhandled rejection.
  promise.catch(() => undefined);
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The shared store of rate-limit state: one entry per tenant, so replicas agree through the
 * bucket instead of each allowing the whole limit. `opTimeoutMs` bounds each KV call; the
 * whole update is bounded by {@link MAX_CAS_ATTEMPTS} of them.
 */
export function createTenantStore(options: { nc: NatsConnection; bucket: string; opTimeoutMs: number }): TenantStore {
  const { nc, bucket, opTimeoutMs } = options;
  if (!/^[-\w]+$/.test(bucket)) throw new RangeError(`invalid rate limit bucket name "${bucket}" (RATE_LIMIT_BUCKET)`);
  let kv: Promise<KV> | undefined;
  let reopenAt = 0;

  const opened = (): Promise<KV> => {
    if (!kv && Date.now() < reopenAt) return Promise.reject(new StoreUnavailableError('rate limit store: the bucket failed moments ago; not reopened yet'));
    kv ??= withTimeout(new Kvm(jetstream(nc, { timeout: OPEN_TIMEOUT_MS })).create(bucket, {
      history: 1,
      ttl: ENTRY_MAX_AGE_MS,
      description: 'agentbus rate limits: token buckets and in-flight leases per API key',
    }), OPEN_TIMEOUT_MS, 'opening the bucket');
    // A failed open is forgotten, so the next request tries again (JetStream may come up later).
    kv.catch(() => { forget(); });
    return kv;
  };

  function forget() {
    kv = undefined;
    reopenAt = Date.now() + REOPEN_INTERVAL_MS;
  }

  return {
    async open() {
      await opened();
    },
    async update<R>(tenant: string, change: Update<R>): Promise<R> {
      const key = keyOf(tenant);
      const bucketKv = await opened();
      for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
        try {
          const entry = await withTimeout(bucketKv.get(key), opTimeoutMs, 'get');
          const live = entry && entry.operation === 'PUT' ? entry : undefined;
          const { write, result } = change(live?.string());
          if (write === undefined) return result;
          // create() also takes over a deleted or purged key; update() fails if anyone wrote since our read.
          if (live) await withTimeout(bucketKv.update(key, write, live.revision, opTimeoutMs), opTimeoutMs, 'update');
          else await withTimeout(bucketKv.create(key, write), opTimeoutMs, 'create');
          return result;
        } catch (err) {
          if (!isConflict(err)) {
            // The bucket may have been deleted, or JetStream restarted without it: it is opened
            // again (which recreates it) rather than failing the same way forever.
            forget();
            throw err instanceof StoreUnavailableError ? err : new StoreUnavailableError(`rate limit store: ${(err as Error).message}`, { cause: err });
          }
          // Lost the race to another replica: read again after a short random pause, so the
          // racers do not collide again in lockstep.
          await sleep(Math.random() * 5 * (attempt + 1));
        }
      }
      throw new StoreContentionError(`rate limit store: ${MAX_CAS_ATTEMPTS} compare-and-set attempts in a row lost to other writers of the same key`);
    },
  };
}
