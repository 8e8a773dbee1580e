import type { KV, KvEntry, KvOptions } from '@nats-io/kv';
import { TimeoutError } from '@nats-io/transport-node';
import type { Bus } from '../../common/bus.js';
import { KvBucket } from '../../common/kv-bucket.js';
import { withTimeout } from '../../common/timeout.js';
import { warnEvery, type Warn } from '../../common/warn-every.js';
import { isCachedAnswer, type CachedAnswer, type SamplingOptions } from '../../bus-schemas/index.js';
import { isCacheable, type CacheMode } from './cache-policy.js';
import { BUS_SETUP_HINT, isPermissionViolation, openKvBucket } from '../../common/jetstream-resources.js';
import type { Logger } from '../../common/logger.js';

export type { CachedAnswer };

/**
 * The response cache shared by every worker. Never throws and never waits longer than its
 * operation timeout: any failure reads as a miss or a skipped store, so the caller simply
 * asks the model.
 */
export interface ResponseCache {
  /** False when `ttlSeconds` is 0 or the mode is `off`: `get` always misses and `put` stores nothing. */
  readonly enabled: boolean;
  /** Whether a request with these effective sampling options is served and stored (CACHE_MODE). */
  accepts(options: SamplingOptions): boolean;
  get(key: string): Promise<CachedAnswer | undefined>;
  put(key: string, answer: CachedAnswer): Promise<void>;
}

export interface ResponseCacheOptions {
  bus: Bus;
  /** How long an answer is reused; 0 disables the cache. */
  ttlSeconds: number;
  /** Which requests are cached (CACHE_MODE); default `deterministic`. */
  mode?: CacheMode;
  /** JetStream KV bucket; default {@link DEFAULT_CACHE_BUCKET}. */
  bucket?: string;
  log: Pick<Logger, 'warn' | 'info'>;
  /** Longest a `get` or `put` may take before it counts as a miss; default 250. */
  opTimeoutMs?: number;
}

/** The KV bucket every worker shares unless told otherwise. */
export const DEFAULT_CACHE_BUCKET = 'agentbus_responses';

// Opening may create a stream on disk (or on a cluster), which takes longer than a read.
const OPEN_TIMEOUT_MS = 2_000;
// A JetStream that comes up after the worker is found this long after at the latest.
const REOPEN_INTERVAL_MS = 5_000;
// A persistent failure (no JetStream) must not write a warning per request.
const WARN_INTERVAL_MS = 60_000;

const DISABLED: ResponseCache = Object.freeze({
  enabled: false,
  accepts: () => false,
  get: async () => undefined,
  put: async () => undefined,
});

/** The bucket's settings: one answer per key, kept `ttlMs` (the bucket's max age). */
export function responseCacheBucketOptions(ttlMs: number): Partial<KvOptions> {
  return { history: 1, ttl: ttlMs, description: 'agentbus response cache' };
}

/**
 * Sets the max age of an existing bucket to `ttlMs` when it differs: `Kvm.create` opens an
 * existing bucket as it is, so a changed CACHE_TTL_SECONDS needs an update (which only a user
 * with the STREAM.UPDATE grant may make: the admin user on a locked-down bus). Throws only when
 * the bucket's status cannot be read; a refused update is the `failed` outcome.
 */
export async function applyResponseCacheTtl(
  bus: Bus,
  kv: KV,
  ttlMs: number,
): Promise<{ outcome: 'unchanged' | 'changed'; fromMs: number } | { outcome: 'failed'; fromMs: number; err: unknown }> {
  const status = await kv.status();
  const fromMs = status.ttl;
  if (status.ttl === ttlMs) return { outcome: 'unchanged', fromMs };
  const stream = status.streamInfo.config;
  const maxAge = ttlMs * 1e6;
  try {
    const jsm = await bus.jetstreamManager({ timeoutMs: OPEN_TIMEOUT_MS });
    // The server refuses a duplicate window longer than the max age (it was set from the old TTL).
    await jsm.streams.update(stream.name, {
      max_age: maxAge,
      duplicate_window: Math.min(stream.duplicate_window || maxAge, maxAge),
    });
    return { outcome: 'changed', fromMs };
  } catch (err) {
    return { outcome: 'failed', fromMs, err };
  }
}

/**
 * Opens the shared response cache: a JetStream KV bucket whose max age is the TTL, created if
 * missing. Resolves even when JetStream is unavailable; the cache then misses and keeps
 * trying to open the bucket in the background. Throws only for invalid options.
 */
export async function openResponseCache(options: ResponseCacheOptions): Promise<ResponseCache> {
  const { ttlSeconds, bucket = DEFAULT_CACHE_BUCKET, opTimeoutMs = 250 } = options;
  if (!Number.isFinite(ttlSeconds) || ttlSeconds < 0)
    throw new RangeError(`response cache TTL must be 0 or more seconds, got ${ttlSeconds}`);
  if (!/^[-\w]+$/.test(bucket)) throw new RangeError(`invalid response cache bucket name "${bucket}"`);
  const mode = options.mode ?? 'deterministic';
  if (ttlSeconds === 0 || mode === 'off') return DISABLED;
  const cache = new KvResponseCache(options.bus, bucket, ttlSeconds * 1000, opTimeoutMs, options.log, mode);
  await cache.open();
  return cache;
}

class KvResponseCache implements ResponseCache {
  readonly enabled = true;
  readonly #bucket: KvBucket;
  readonly #warn: Warn;

  constructor(
    private readonly bus: Bus,
    private readonly bucket: string,
    private readonly ttlMs: number,
    private readonly opTimeoutMs: number,
    private readonly log: Pick<Logger, 'warn' | 'info'>,
    private readonly mode: CacheMode,
  ) {
    // A persistent failure (no JetStream) must not write a warning per request.
    this.#warn = warnEvery(log, WARN_INTERVAL_MS, { bucket });
    this.#bucket = new KvBucket({
      name: bucket,
      // An existing bucket is opened without a create call: on a locked-down bus only the admin
      // user (npm run bus:setup) may create it, and a missing one is then a warning naming that.
      open: () => this.#openBucket(),
      openTimeoutMs: OPEN_TIMEOUT_MS,
      reopenIntervalMs: REOPEN_INTERVAL_MS,
      onOpenFailed: (err) =>
        this.#warn(
          'open_failed',
          err,
          `cannot open the response cache bucket (${(err as Error).message}); answers are not cached until it ` +
            `opens (retrying every ${REOPEN_INTERVAL_MS / 1000} s)`,
        ),
      onReopened: () => log.info({ bucket }, 'response cache bucket is available again'),
    });
  }

  accepts(options: SamplingOptions): boolean {
    return isCacheable(this.mode, options);
  }

  async get(key: string): Promise<CachedAnswer | undefined> {
    const kv = this.#ready();
    if (!kv) return undefined;
    try {
      const entry = await withTimeout(kv.get(key), this.opTimeoutMs, this.#timedOut('get'));
      if (!entry || entry.operation !== 'PUT') return undefined;
      const answer = parseAnswer(entry);
      if (!answer) {
        this.#warn('bad_value', undefined, 'ignored a cached answer that is not valid JSON of the expected shape');
        return undefined;
      }
      // The server expires entries lazily; the TTL is a promise to the client, so check it here.
      return Date.now() - answer.stored_at < this.ttlMs ? answer : undefined;
    } catch (err) {
      this.#failed('get', err);
      return undefined;
    }
  }

  async put(key: string, answer: CachedAnswer): Promise<void> {
    const kv = this.#ready();
    if (!kv) return;
    const json = JSON.stringify(answer);
    const maxPayload = this.bus.maxPayload;
    if (maxPayload !== undefined && Buffer.byteLength(json) > maxPayload) {
      this.#warn(
        'too_large',
        undefined,
        `not caching an answer larger than the NATS max_payload (${maxPayload} bytes)`,
      );
      return;
    }
    try {
      await withTimeout(kv.put(key, json, { timeout: this.opTimeoutMs }), this.opTimeoutMs, this.#timedOut('put'));
    } catch (err) {
      this.#failed('put', err);
    }
  }

  /** Opens the bucket once at start; failures are logged, never thrown (the cache then misses). */
  async open(): Promise<void> {
    await this.#bucket.opened().catch(() => undefined);
  }

  async #openBucket(): Promise<KV> {
    const kv = await openKvBucket(this.bus, this.bucket, responseCacheBucketOptions(this.ttlMs), OPEN_TIMEOUT_MS);
    const applied = await applyResponseCacheTtl(this.bus, kv, this.ttlMs);
    if (applied.outcome === 'changed') {
      this.log.info(
        { bucket: this.bucket, fromMs: applied.fromMs, toMs: this.ttlMs },
        'changed the response cache bucket TTL',
      );
    } else if (applied.outcome === 'failed') {
      const fix = isPermissionViolation(applied.err)
        ? `this NATS user may not change it: ${BUS_SETUP_HINT}, with this CACHE_TTL_SECONDS`
        : `to fix: nats stream edit KV_${this.bucket} --max-age ${this.ttlMs / 1000}s ` +
          '(or nats kv del ${this.bucket}, and it is created again)';
      this.log.warn(
        { err: applied.err, bucket: this.bucket, bucketTtlMs: applied.fromMs, ttlMs: this.ttlMs },
        `the response cache bucket keeps entries for ${applied.fromMs / 1000} s, not ${this.ttlMs / 1000} s, ` +
          `and could not be changed; no answer is served past ${this.ttlMs / 1000} s either way. ${fix}`,
      );
    }
    return kv;
  }

  /** The open bucket, or undefined (a miss) while it is not; starts a reopen when one is due. */
  #ready(): KV | undefined {
    if (this.bus.closed) {
      this.#warn('connection_closed', undefined, 'the NATS connection is closed; answers are not cached');
      return undefined;
    }
    return this.#bucket.current();
  }

  #timedOut(op: 'get' | 'put') {
    return () => {
      throw new CacheTimeoutError(op, this.opTimeoutMs);
    };
  }

  #failed(op: 'get' | 'put', err: unknown): void {
    // Ours or the client's own request timeout, whichever fired first: a slow server, not a lost bucket.
    if (err instanceof CacheTimeoutError || err instanceof TimeoutError) {
      this.#warn(
        `${op}_timeout`,
        undefined,
        `response cache ${op} took longer than ${this.opTimeoutMs} ms; treated as a miss`,
      );
      return;
    }
    // The bucket may have been deleted, or JetStream restarted without it: open it again
    // (which recreates it) rather than fail the same way on every request.
    this.#bucket.forget();
    this.#warn(`${op}_failed`, err, `response cache ${op} failed; treated as a miss`);
  }
}

class CacheTimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`response cache ${what} took longer than ${ms} ms`);
    this.name = 'CacheTimeoutError';
  }
}

/** The stored value as a CachedAnswer, or undefined: it comes from the network. */
function parseAnswer(entry: KvEntry): CachedAnswer | undefined {
  let value: unknown;
  try {
    value = JSON.parse(entry.string());
  } catch {
    return undefined;
  }
  return isCachedAnswer(value) ? value : undefined;
}
