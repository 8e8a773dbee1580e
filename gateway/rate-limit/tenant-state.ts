import { takeBytes } from './byte-budget.js';
import type { RateTier } from './rate-tiers.js';
import { refundToken, takeToken, type BucketState, type Buckets, type WindowReport } from './token-buckets.js';

/**
 * One tenant's KV entry: its token buckets and its in-flight leases together, so one
 * compare-and-set covers every window and the concurrency cap at once.
 */
export interface TenantState {
  buckets: Buckets;
  /** Request id → when its lease lapses (ms since the epoch), for requests in flight. */
  leases: Record<string, number>;
  /** The `max_input_bytes` bucket: body bytes left; absent: full. */
  bytes?: BucketState;
}

export type Decision =
  | { readonly kind: 'admit'; readonly next: TenantState; readonly tightest: WindowReport | undefined }
  | { readonly kind: 'rate'; readonly blocking: WindowReport; readonly retryAfterMs: number }
  | { readonly kind: 'concurrency'; readonly inFlight: number; readonly cap: number }
  /** Over `max_input_bytes`; `retryAfterMs` undefined: the body alone is larger than the budget. */
  | {
      readonly kind: 'bytes';
      readonly bytes: number;
      readonly limit: number;
      readonly retryAfterMs: number | undefined;
    };

const isBucket = (value: unknown): value is BucketState =>
  isObject(value) && Number.isFinite(value['tokens']) && Number.isFinite(value['at']);

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
      if (isBucket(bucket)) state.buckets[window] = { tokens: bucket.tokens, at: bucket.at };
    }
  }
  if (isBucket(value['bytes'])) state.bytes = { tokens: value['bytes'].tokens, at: value['bytes'].at };
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

const withBytes = (state: Omit<TenantState, 'bytes'>, bytes: BucketState | undefined): TenantState =>
  bytes ? { ...state, bytes } : state;

/**
 * Whether one more request of this tenant may start at `now`, carrying `inputBytes` of body,
 * and the state to store if so. A refused request changes nothing (nothing is stored for it).
 * Rate limits are checked before the byte budget and the concurrency cap: their wait is the
 * one the caller must know about.
 */
export function decide(
  state: TenantState,
  tier: RateTier,
  now: number,
  lease: { id: string; until: number } | undefined,
  inputBytes = 0,
): Decision {
  const taken = takeToken(state.buckets, tier.windows, now);
  if (!taken.allowed) return { kind: 'rate', blocking: taken.blocking, retryAfterMs: taken.retryAfterMs };
  const bytes = takeBytes(state.bytes, tier.inputBytes, inputBytes, now);
  if (!bytes.allowed) {
    return { kind: 'bytes', bytes: inputBytes, limit: tier.inputBytes?.limit ?? 0, retryAfterMs: bytes.retryAfterMs };
  }
  const leases = liveLeases(state.leases, now);
  if (tier.concurrentStreams !== undefined) {
    const inFlight = Object.keys(leases).length;
    if (inFlight >= tier.concurrentStreams) return { kind: 'concurrency', inFlight, cap: tier.concurrentStreams };
    if (lease) leases[lease.id] = lease.until;
  }
  return { kind: 'admit', next: withBytes({ buckets: taken.buckets, leases }, bytes.bucket), tightest: taken.tightest };
}

/**
 * `cost` more tokens from every window for a request already admitted (the further model calls
 * of a fan-out), or a refusal; leases and the byte budget are left as they are.
 */
export function decideCharge(state: TenantState, tier: RateTier, now: number, cost: number): Decision {
  const taken = takeToken(state.buckets, tier.windows, now, cost);
  if (!taken.allowed) return { kind: 'rate', blocking: taken.blocking, retryAfterMs: taken.retryAfterMs };
  return {
    kind: 'admit',
    next: withBytes({ buckets: taken.buckets, leases: state.leases }, state.bytes),
    tightest: taken.tightest,
  };
}

/**
 * `extra` more bytes of body for a request already admitted, whose body's size (`total`) was
 * known only once read (compressed or chunked); a refusal changes nothing. Tokens and leases stay.
 */
export function decideBytes(state: TenantState, tier: RateTier, now: number, extra: number, total: number): Decision {
  const limit = tier.inputBytes?.limit ?? 0;
  if (tier.inputBytes && total > limit) return { kind: 'bytes', bytes: total, limit, retryAfterMs: undefined };
  const bytes = takeBytes(state.bytes, tier.inputBytes, extra, now);
  if (!bytes.allowed) return { kind: 'bytes', bytes: total, limit, retryAfterMs: bytes.retryAfterMs };
  return {
    kind: 'admit',
    next: withBytes({ buckets: state.buckets, leases: state.leases }, bytes.bucket),
    tightest: undefined,
  };
}

/**
 * The state with the admission's token given back to every window (never above its limit): a
 * fan-out refused for its further calls spends nothing, like any refused request.
 */
export function refundAdmission(state: TenantState, tier: RateTier, now: number): TenantState {
  return withBytes({ buckets: refundToken(state.buckets, tier.windows, now), leases: state.leases }, state.bytes);
}

/**
 * The state without lease `id` (and without lapsed ones), with the request's token given back
 * when `refund` names its tier; undefined when there is nothing to change.
 */
export function releaseLease(state: TenantState, id: string, now: number, refund?: RateTier): TenantState | undefined {
  const held = Object.hasOwn(state.leases, id);
  if (!held && !refund) return undefined;
  const leases = liveLeases(state.leases, now);
  delete leases[id];
  const buckets = refund ? refundToken(state.buckets, refund.windows, now) : state.buckets;
  return withBytes({ buckets, leases }, state.bytes);
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
  return withBytes({ buckets: state.buckets, leases }, state.bytes);
}
