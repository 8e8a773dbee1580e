import type { WindowLimit, WindowName } from './rate-tiers.js';

/** One window's bucket as stored: tokens left at time `at` (ms since the epoch). */
export interface BucketState {
  tokens: number;
  at: number;
}

/** A tenant's buckets by window; a missing bucket is full. */
export type Buckets = Partial<Record<WindowName, BucketState>>;

/** How one window stands, for messages and the X-RateLimit-* headers. */
export interface WindowReport {
  readonly window: WindowName;
  readonly limit: number;
  /** Whole requests left. */
  readonly remaining: number;
  /** Until the bucket is full again. */
  readonly resetMs: number;
}

export type TakeResult =
  | { readonly allowed: true; readonly buckets: Buckets; readonly tightest: WindowReport | undefined }
  /** `blocking` is the window that makes the caller wait longest; nothing was taken from any. */
  | { readonly allowed: false; readonly blocking: WindowReport; readonly retryAfterMs: number };

/**
 * Tokens in a bucket at `now`. Replicas' clocks differ a little: a bucket stamped in our future
 * refills nothing rather than going negative.
 */
export function tokensAt(state: BucketState | undefined, limit: WindowLimit, now: number): number {
  if (!state) return limit.limit;
  const elapsed = Math.max(0, now - state.at);
  return Math.min(limit.limit, state.tokens + (elapsed * limit.limit) / limit.periodMs);
}

const report = (limit: WindowLimit, tokens: number): WindowReport => ({
  window: limit.window,
  limit: limit.limit,
  remaining: Math.max(0, Math.floor(tokens + 1e-9)),
  resetMs: Math.max(0, Math.ceil(((limit.limit - tokens) * limit.periodMs) / limit.limit)),
});

/**
 * Takes `cost` tokens (one per model call) from every window's bucket, or from none
 * (all-or-nothing): a request allowed by the minute but not by the day must not spend the
 * minute's token. Pure: `now` is passed in, so tests move the clock instead of sleeping.
 */
export function takeToken(buckets: Buckets, limits: readonly WindowLimit[], now: number, cost = 1): TakeResult {
  const levels = limits.map((limit) => ({
    limit,
    tokens: tokensAt(buckets[limit.window], limit, now),
    at: Math.max(now, buckets[limit.window]?.at ?? now),
  }));
  const short = levels.filter((level) => level.tokens < cost);
  if (short.length > 0) {
    const waits = short.map((level) => ({
      level,
      waitMs: Math.ceil(((cost - level.tokens) * level.limit.periodMs) / level.limit.limit),
    }));
    const longest = waits.reduce((a, b) => (b.waitMs > a.waitMs ? b : a));
    return {
      allowed: false,
      blocking: report(longest.level.limit, longest.level.tokens),
      retryAfterMs: longest.waitMs,
    };
  }
  const next: Buckets = {};
  let tightest: WindowReport | undefined;
  for (const level of levels) {
    const tokens = level.tokens - cost;
    next[level.limit.window] = { tokens, at: level.at };
    const standing = report(level.limit, tokens);
    // Fewest requests left; on a tie, the window that takes longest to refill.
    if (
      !tightest ||
      standing.remaining < tightest.remaining ||
      (standing.remaining === tightest.remaining && standing.resetMs > tightest.resetMs)
    )
      tightest = standing;
  }
  return { allowed: true, buckets: next, tightest };
}

/**
 * The buckets with the token of one admitted request given back (capped at each limit): for a
 * request refused before anything was published (a 4xx of its body), which costs no model call.
 */
export function refundToken(buckets: Buckets, limits: readonly WindowLimit[], now: number): Buckets {
  const next: Buckets = { ...buckets };
  for (const limit of limits) {
    const state = buckets[limit.window];
    if (!state) continue;
    next[limit.window] = {
      tokens: Math.min(limit.limit, tokensAt(state, limit, now) + 1),
      at: Math.max(now, state.at),
    };
  }
  return next;
}
