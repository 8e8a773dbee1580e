import { createHash } from 'node:crypto';
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import type { Bus } from '../../common/bus.js';
import { BucketNotReopenedError, KvBucket } from '../../common/kv-bucket.js';
import { withLiveTimeout } from '../../common/live-timeout.js';
import type { Logger } from '../../common/logger.js';
import { openRateLimitBucket } from './rate-limit-bucket.js';

/** The KV bucket every gateway replica shares unless told otherwise (RATE_LIMIT_BUCKET). */
export const DEFAULT_RATE_LIMIT_BUCKET = 'agentbus_rate_limits';

// Opening may create the stream on disk (or on a cluster), which takes longer than a read.
const OPEN_TIMEOUT_MS = 2_000;
// nats.js's own timeout of each KV call: only a backstop. Its timer cannot tell a busy event loop
// from a slow server, so the verdict is withLiveTimeout's, which can (RATE_LIMIT_TIMEOUT_MS).
const NATS_BACKSTOP_MS = 30_000;
// After a failed open the bucket is opened again, at most this often: during a JetStream outage
// only one admission a second waits for an open to time out, the others go through at once.
// The same interval spaces the checks of whether the bucket still exists.
const REOPEN_INTERVAL_MS = 1_000;
// Replicas updating one tenant at once retry this many times in all before giving up.
export const MAX_CAS_ATTEMPTS = 8;
// Pause before the next compare-and-set after a lost one: random in [0, min(cap, base·2^n)) ("full
// jitter"), so racing replicas spread out instead of colliding again in lockstep.
const CAS_BACKOFF_BASE_MS = 4;
const CAS_BACKOFF_CAP_MS = 100;

/** The store did not answer in time or failed: RATE_LIMIT_STORE_DOWN decides (refuse, or let through). */
export class StoreUnavailableError extends Error {
  override name = 'StoreUnavailableError';
}

/**
 * A gated update turned away at once because the bucket failed moments ago and is not reopened
 * yet: nothing was read or written. Lets the batcher (tenant-batches.ts) run the ungated
 * updates of a mixed batch on their own.
 */
export class StoreNotReopenedError extends StoreUnavailableError {
  override name = 'StoreNotReopenedError';
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

/** How an update may wait. */
export interface UpdateOptions {
  /**
   * Not turned away while a failed open waits to be retried: set for lease releases and
   * renewals, which must not be lost because of someone else's failure (they open the bucket
   * themselves instead). Admissions leave it unset and go through at once during an outage.
   */
  ungated?: boolean;
}

/** Per-tenant entries in a JetStream KV bucket, changed by compare-and-set only. */
export interface TenantStore {
  /**
   * Reads the tenant's entry, applies `change`, and writes the result if nobody wrote since the
   * read (else reads again, up to {@link MAX_CAS_ATTEMPTS} times). Throws
   * {@link StoreUnavailableError} when NATS or the bucket fails or is too slow,
   * {@link StoreContentionError} when every attempt lost; an error thrown by `change` is passed on as is.
   */
  update<R>(tenant: string, change: Update<R>, options?: UpdateOptions): Promise<R>;
  /** Opens (or creates) the bucket now; later calls reopen it after a failure. */
  open(): Promise<void>;
}

/** A KV key for a tenant id: ids made of key-safe characters as they are, others hashed. */
export function keyOf(tenant: string): string {
  return /^[-\w=]{1,200}$/.test(tenant) ? `t.${tenant}` : `h.${createHash('sha256').update(tenant).digest('hex')}`;
}

const isStreamNotFound = (err: unknown) =>
  err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound;

const isConflict = (err: unknown) =>
  err instanceof JetStreamApiError &&
  (err.code === JetStreamApiCodes.StreamWrongLastSequence ||
    err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The shared store of rate-limit state: one entry per tenant, so replicas agree through the
 * bucket instead of each allowing the whole limit. `opTimeoutMs` bounds each KV call; the
 * whole update is bounded by {@link MAX_CAS_ATTEMPTS} of them.
 */
export function createTenantStore(options: {
  bus: Bus;
  bucket: string;
  opTimeoutMs: number;
  log?: Pick<Logger, 'warn'>;
}): TenantStore {
  const { bus, bucket, opTimeoutMs, log } = options;
  if (!/^[-\w]+$/.test(bucket)) throw new RangeError(`invalid rate limit bucket name "${bucket}" (RATE_LIMIT_BUCKET)`);
  // Created only when missing and this user may (rate-limit-bucket.ts): on a locked-down bus a
  // missing bucket fails to open, naming npm run bus:setup, and the limiter lets requests through.
  const kv = new KvBucket({
    name: bucket,
    open: () => openRateLimitBucket(bus, bucket, NATS_BACKSTOP_MS),
    openTimeoutMs: OPEN_TIMEOUT_MS,
    reopenIntervalMs: REOPEN_INTERVAL_MS,
  });
  const timedOut = (what: string) => () => {
    throw new StoreUnavailableError(`rate limit store: ${what} took longer than ${opTimeoutMs} ms`);
  };

  // Whether the bucket is really gone (deleted, or JetStream restarted without it), asked at most
  // once a second after a failed call. A timeout alone proves nothing: a stalled server answers
  // again with the bucket intact, and forgetting it then would reopen it for nothing and turn
  // every request away from the limiter meanwhile. Only "stream not found" forgets it, so the
  // next call opens (recreates) it; a check that itself times out keeps the bucket.
  let checking = false;
  let checkedAt = 0;
  let deferred: NodeJS.Timeout | undefined;
  function checkGone(): void {
    if (checking || deferred) return;
    // Too soon after the last check: checked when the interval ends, not skipped (the failure
    // that asks may be the last one for a while).
    const wait = checkedAt + REOPEN_INTERVAL_MS - Date.now();
    if (wait > 0) {
      deferred = setTimeout(() => {
        deferred = undefined;
        checkGone();
      }, wait).unref();
      return;
    }
    checking = true;
    checkedAt = Date.now();
    bus
      .jetstreamManager({ timeoutMs: OPEN_TIMEOUT_MS, checkAPI: false })
      .then((jsm) => jsm.streams.info(`KV_${bucket}`))
      .then(
        () => undefined,
        (err: unknown) => {
          if (!isStreamNotFound(err)) return;
          log?.warn(
            { reason: 'bucket_gone', bucket },
            'the rate limit bucket is gone (stream not found); it is opened, and so recreated, by the next call',
          );
          kv.forget();
        },
      )
      .finally(() => {
        checking = false;
      });
  }

  /** A failed KV call as the caller sees it, after asking (in the background) whether the bucket is gone. */
  function unavailable(err: unknown): StoreUnavailableError {
    checkGone();
    return err instanceof StoreUnavailableError
      ? err
      : new StoreUnavailableError(`rate limit store: ${(err as Error).message}`, { cause: err });
  }

  return {
    async open() {
      await kv.opened();
    },
    async update<R>(tenant: string, change: Update<R>, options: UpdateOptions = {}): Promise<R> {
      const key = keyOf(tenant);
      // An open that fails is forgotten by the bucket itself; no check is needed for it.
      const bucketKv = await kv.opened(options.ungated !== true).catch((err: unknown) => {
        if (err instanceof BucketNotReopenedError) {
          throw new StoreNotReopenedError('rate limit store: the bucket failed moments ago; not reopened yet');
        }
        throw err instanceof StoreUnavailableError
          ? err
          : new StoreUnavailableError(`rate limit store: ${(err as Error).message}`, { cause: err });
      });
      for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
        const entry = await withLiveTimeout(bucketKv.get(key), opTimeoutMs, timedOut('get')).catch((err: unknown) => {
          throw unavailable(err);
        });
        const live = entry && entry.operation === 'PUT' ? entry : undefined;
        // Outside the catch below: an exception here is a bug of ours, not an unavailable store.
        const { write, result } = change(live?.string());
        if (write === undefined) return result;
        try {
          // create() also takes over a deleted or purged key; update() fails if anyone wrote since our read.
          if (live) {
            const written = bucketKv.update(key, write, live.revision, NATS_BACKSTOP_MS);
            await withLiveTimeout(written, opTimeoutMs, timedOut('update'));
          } else await withLiveTimeout(bucketKv.create(key, write), opTimeoutMs, timedOut('create'));
          return result;
        } catch (err) {
          if (!isConflict(err)) throw unavailable(err);
        }
        // Lost the race to another writer: read again after a random pause.
        await sleep(Math.random() * Math.min(CAS_BACKOFF_CAP_MS, CAS_BACKOFF_BASE_MS * 2 ** attempt));
      }
      throw new StoreContentionError(
        `rate limit store: ${MAX_CAS_ATTEMPTS} compare-and-set attempts in a row lost to other writers of the same key`,
      );
    },
  };
}
