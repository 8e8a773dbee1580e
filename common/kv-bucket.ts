import type { KV } from '@nats-io/kv';
import { systemClock, type Clock } from './clock.js';
import { withLiveTimeout } from './live-timeout.js';

/** A bucket that cannot be opened now: the caller treats the store as unavailable. */
export class BucketUnavailableError extends Error {
  override name = 'BucketUnavailableError';
}

/**
 * A bucket failed moments ago and is not reopened yet: the caller was turned away at once,
 * nothing was read or written.
 */
export class BucketNotReopenedError extends BucketUnavailableError {
  override name = 'BucketNotReopenedError';
}

export interface KvBucketOptions {
  /** The bucket's name, for messages. */
  name: string;
  /** Opens (or creates) the bucket; called again after a failure. */
  open(): Promise<KV>;
  /** Longest an open may take before it counts as failed. */
  openTimeoutMs: number;
  /** After a failed open, the next one waits this long at least. */
  reopenIntervalMs: number;
  /** Told of every failed open (for a throttled warning), and when the bucket opens after one. */
  onOpenFailed?(err: unknown): void;
  onReopened?(): void;
  clock?: Clock;
}

/**
 * A JetStream KV bucket shared by the response cache and the rate limiter: opened on first use,
 * forgotten when it is found gone, and opened again — at most once per `reopenIntervalMs` — so
 * a JetStream that comes back (or a bucket recreated by `npm run bus:setup`) is found without a
 * restart, while an outage costs each caller no more than one timed-out open per interval.
 */
export class KvBucket {
  readonly #options: KvBucketOptions;
  readonly #clock: Clock;
  #kv: Promise<KV> | undefined;
  #open: KV | undefined;
  #reopenAt = 0;
  #failed = false;

  constructor(options: KvBucketOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
  }

  /**
   * The bucket, opening it when needed. `gated`: during the pause after a failed open, turn the
   * caller away at once ({@link BucketNotReopenedError}) instead of opening again.
   */
  opened(gated = false): Promise<KV> {
    if (!this.#kv && gated && this.#clock.now() < this.#reopenAt) {
      return Promise.reject(
        new BucketNotReopenedError(`the bucket ${this.#options.name} failed moments ago; not reopened yet`),
      );
    }
    this.#kv ??= this.#openNow();
    return this.#kv;
  }

  /** The bucket if it is open now, else undefined; starts an open when one is due. Never waits. */
  current(): KV | undefined {
    if (!this.#open && !this.#kv && this.#clock.now() >= this.#reopenAt) {
      this.opened().catch(() => undefined); // failures are reported through onOpenFailed
    }
    return this.#open;
  }

  /** The bucket is gone (deleted, JetStream restarted without it): the next use opens it again. */
  forget(): void {
    this.#kv = undefined;
    this.#open = undefined;
    this.#reopenAt = this.#clock.now() + this.#options.reopenIntervalMs;
  }

  async #openNow(): Promise<KV> {
    const { name, openTimeoutMs } = this.#options;
    // Retried only after the interval, success or not: a failing open is not hammered.
    this.#reopenAt = this.#clock.now() + this.#options.reopenIntervalMs;
    try {
      // Only time the event loop was free counts: a busy process must not mark the bucket failed.
      const kv = await withLiveTimeout(
        this.#options.open(),
        openTimeoutMs,
        () => {
          throw new BucketUnavailableError(`opening the bucket ${name} took longer than ${openTimeoutMs} ms`);
        },
        this.#clock,
      );
      this.#open = kv;
      if (this.#failed) this.#options.onReopened?.();
      this.#failed = false;
      return kv;
    } catch (err) {
      this.#failed = true;
      this.forget();
      this.#options.onOpenFailed?.(err);
      throw err;
    }
  }
}
