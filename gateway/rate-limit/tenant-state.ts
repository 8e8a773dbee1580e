import type { RateTier } from './rate-tiers.js';
import { takeToken, tokensAt, type Buckets, type WindowReport } from './token-buckets.js';

/**
 * One tenant's KV entry: its token buckets and its in-flight leases together, so one
 * compare-and-set covers every window and the concurrency cap at once.
 */
export interface TenantState {
  buckets: Buckets;
  /** Request id → when its lease lapses (ms since the epoch), for requests in flight. */
  leases: Record<string, number>;
}

export type Decision =
  | { readonly kind: 'admit'; readonly next: TenantState; readonly tightest: WindowReport | undefined }
  | { readonly kind: 'rate'; readonly blocking: WindowReport; readonly retryAfterMs: number }
  | { readonly kind: 'concurrency'; readonly inFlight: number; readonly cap: number };

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Reads a stored entry. Anything unexpected (another version's format, a hand-edited value)
 * reads as an empty state: the worst case is one window's worth of extra requests, never a
 * failed request.
 */
export function parseTenantState(text: string | undefined): TenantState {
  const state: TenantState = { buckets: {}, leases: {} };
  if (text === undefined) return state;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return state;
  }
  if (!isObject(value)) return state;
  if (isObject(value['buckets'])) {
    for (const window of ['minute', 'hour', 'day'] as const) {
      const bucket = value['buckets'][window];
      if (isObject(bucket) && Number.isFinite(bucket['tokens']) && Number.isFinite(bucket['at']))
        state.buckets[window] = { tokens: bucket['tokens'] as number, at: bucket['at'] as number };
    }
  }
  if (isObject(value['leases'])) {
    for (const [id, until] of Object.entries(value['leases']))
      if (Number.isFinite(until)) state.leases[id] = until as number;
  }
  return state;
}

/** Leases still running at `now`: a crashed gateway's leases lapse instead of holding the cap forever. */
export function liveLeases(leases: Record<string, number>, now: number): Record<string, number> {
  return Object.fromEntries(Object.entries(leases).filter(([, until]) => until > now));
}

/**
 * Whether one more request of this tenant may start at `now`, and the state to store if so.
 * A refused request changes nothing (nothing is stored for it). Rate limits are checked
 * before the concurrency cap: their wait is the one the caller must know about.
 */
export function decide(
  state: TenantState,
  tier: RateTier,
  now: number,
  lease: { id: string; until: number } | undefined,
): Decision {
  const taken = takeToken(state.buckets, tier.windows, now);
  if (!taken.allowed) return { kind: 'rate', blocking: taken.blocking, retryAfterMs: taken.retryAfterMs };
  const leases = liveLeases(state.leases, now);
  if (tier.concurrentStreams !== undefined) {
    const inFlight = Object.keys(leases).length;
    if (inFlight >= tier.concurrentStreams) return { kind: 'concurrency', inFlight, cap: tier.concurrentStreams };
    if (lease) leases[lease.id] = lease.until;
  }
  return { kind: 'admit', next: { buckets: taken.buckets, leases }, tightest: taken.tightest };
}

/**
 * `cost` more tokens from every window for a request already admitted (the further model calls
 * of a fan-out), or a refusal; leases are left as they are.
 */
export function decideCharge(state: TenantState, tier: RateTier, now: number, cost: number): Decision {
  const taken = takeToken(state.buckets, tier.windows, now, cost);
  if (!taken.allowed) return { kind: 'rate', blocking: taken.blocking, retryAfterMs: taken.retryAfterMs };
  return { kind: 'admit', next: { buckets: taken.buckets, leases: state.leases }, tightest: taken.tightest };
}

/**
 * The state with the admission's token given back to every window (never above its limit): a
 * fan-out refused for its further calls spends nothing, like any refused request.
 */
export function refundToken(state: TenantState, tier: RateTier, now: number): TenantState {
  const buckets: Buckets = { ...state.buckets };
  for (const limit of tier.windows) {
    const bucket = state.buckets[limit.window];
    const tokens = Math.min(limit.limit, tokensAt(bucket, limit, now) + 1);
    buckets[limit.window] = { tokens, at: Math.max(now, bucket?.at ?? now) };
  }
  return { buckets, leases: state.leases };
}

/** The state without lease `id` (and without lapsed ones); undefined when there is nothing to change. */
export function releaseLease(state: TenantState, id: string, now: number): TenantState | undefined {
  if (!Object.hasOwn(state.leases, id)) return undefined;
  const leases = liveLeases(state.leases, now);
  delete leases[id];
  return { buckets: state.buckets, leases };
}

/**
 * The state with each of `renewed` running until its new time (and without lapsed leases). A
 * lease missing from the state is put back: its request is still in flight (its lease lapsed
 * while the store did not answer, or the bucket was lost), and the cap should count it.
 */
export function renewLeases(
  state: TenantState,
  renewed: ReadonlyArray<{ id: string; until: number }>,
  now: number,
): TenantState {
  const leases = liveLeases(state.leases, now);
  for (const { id, until } of renewed) leases[id] = Math.max(until, leases[id] ?? 0);
  return { buckets: state.buckets, leases };
}
