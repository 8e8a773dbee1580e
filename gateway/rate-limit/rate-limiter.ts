import { AgentbusError } from '../../bus-schemas/index.js';
import type { StoreDownPolicy } from './store-down.js';
import type { Logger } from '../../common/logger.js';
import type { Bus } from '../../common/bus.js';
import { RECONNECT_WAIT_MS, waitConnected } from '../../common/wait-connected.js';
import { rateLimitHeaders } from './rate-limit-headers.js';
import { callsOverWindow, contended, refusal, storeDownError } from './refusals.js';
import { isLimited, type RateTier, type RateTiers } from './rate-tiers.js';
import { createLeaseKeeper, DEFAULT_LEASE_TIMING, type LeaseTiming } from './lease-keeper.js';
import { batchPerTenant } from './tenant-batches.js';
import { decide, decideBytes, decideCharge, parseTenantState, refundAdmission, type Decision } from './tenant-state.js';
import { createTenantStore, StoreContentionError, StoreUnavailableError, type TenantStore } from './tenant-store.js';
import { warnEvery } from '../../common/warn-every.js';
import { randomBytesPooled as randomBytes } from '../../common/random-bytes.js';

export { refusalOf, type Refusal } from './refusals.js';

/** A request the limiter let through: headers for its response, and the end of its lease. */
export interface Admission {
  /** `x-ratelimit-*` and `RateLimit-*` headers (none for a tier without request limits). */
  readonly headers: Readonly<Record<string, string>>;
  /**
   * Frees the request's concurrency lease; safe to call more than once (only the first counts),
   * never throws. Resolves after one attempt; a failed one is retried in the background (see the
   * lease keeper). `refund`: the request published nothing (refused by a 4xx of its body, or its
   * client left first), so its request token goes back; its bytes stay spent.
   */
  release(options?: { refund?: boolean }): Promise<void>;
  /**
   * Counts `calls` more model calls of this request (a fan-out's further agents and its
   * aggregator): that many more tokens from every window, all or none. Resolves with the
   * headers for what is left, or throws the 429 and gives back the admission's token; takes
   * nothing from a request let through unlimited.
   */
  charge(calls: number): Promise<Readonly<Record<string, string>>>;
  /**
   * Takes `extra` more bytes from the tier's `max_input_bytes` for a body whose size (`total`)
   * was known only once read (compressed or chunked), or throws its 413 or 429; nothing is given
   * back here (the refused request's release does that). Does nothing for a tier without one.
   */
  chargeBytes(extra: number, total: number): Promise<void>;
}

/** Who asks, for {@link RateLimiter.admit}. */
export interface AdmissionRequest {
  /** Whose buckets: the key's tenant id. */
  tenant: string;
  /** The key's display name, for messages (never the key). */
  keyName: string;
  /** The key's tier; a name missing from the table is limited as the strictest tier. */
  tier: string;
  /**
   * The lease's id, unique per request; drawn here when absent, and only for a limited tier
   * (an unlimited one takes no lease).
   */
  requestId?: string | undefined;
  /** Bytes of the request body (or WebSocket frame), counted against the tier's `max_input_bytes`. */
  inputBytes?: number;
  /**
   * The request's deadline: its lease is renewed until then at most. A lease itself is short
   * ({@link LeaseTiming}) so that a crashed gateway's slots free within seconds.
   */
  leaseUntil: number;
}

/** Whose byte budget, for {@link RateLimiter.chargeBytes}. */
export type BytesRequest = Pick<AdmissionRequest, 'tenant' | 'keyName' | 'tier'> & { bytes: number };

/** Per-key limits shared by every gateway replica through one JetStream KV bucket. */
export interface RateLimiter {
  readonly tiers: RateTiers;
  /**
   * Takes one request from every window and a concurrency lease, or throws a 429 whose
   * {@link refusalOf} says when to retry.
   */
  admit(request: AdmissionRequest): Promise<Admission>;
  /**
   * Takes `bytes` from the tier's `max_input_bytes` only (no request token, no lease): input that
   * is not a request of its own, such as each WebSocket frame as it arrives. Throws the 429 (or 413)
   * an HTTP body of that size would get; does nothing for a tier without a byte budget.
   */
  chargeBytes(request: BytesRequest): Promise<void>;
}

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});
const chargeNothing = async () => NO_HEADERS;
const chargeNoBytes = async () => undefined;
const UNLIMITED: Admission = Object.freeze({
  headers: NO_HEADERS,
  release: async () => undefined,
  charge: chargeNothing,
  chargeBytes: chargeNoBytes,
});

/**
 * The rate limiter. NATS disconnected: the request fails with `bus_unavailable` (nothing could be
 * published anyway). The store did not answer this request in time or failed
 * ({@link StoreUnavailableError}: a KV call over RATE_LIMIT_TIMEOUT_MS of a live event loop,
 * JetStream off, the bucket gone): `storeDown` decides — `closed` refuses the request (503
 * `rate_limit_unavailable`), `open` lets that one request through unlimited. Everything else is
 * not let through: lost races are retried and a tenant so busy that every attempt loses is
 * refused (429); an error of our own is the request's error. Updates of one tenant are batched
 * within the process, so a burst of one key races only other replicas.
 */
export function createRateLimiter(options: {
  bus: Bus;
  tiers: RateTiers;
  bucket: string;
  opTimeoutMs: number;
  log: Pick<Logger, 'warn' | 'info'>;
  /** RATE_LIMIT_STORE_DOWN; default `closed`. */
  storeDown?: StoreDownPolicy;
  store?: TenantStore;
  leaseTiming?: LeaseTiming;
}): RateLimiter {
  const storeDown = options.storeDown ?? 'closed';
  const { tiers, log } = options;
  const store = batchPerTenant(options.store ?? createTenantStore(options));
  const { bus } = options;
  const warn = warnEvery(log, 60_000);
  const leases = createLeaseKeeper(store, options.leaseTiming ?? DEFAULT_LEASE_TIMING, warn);

  return {
    tiers,
    async chargeBytes(request) {
      const tier = tiers.resolve(request.tier);
      if (isLimited(tier)) await chargeBytes(request, tier, request.bytes, request.bytes);
    },
    async admit(request) {
      const tier = tiers.resolve(request.tier);
      if (!isLimited(tier)) return UNLIMITED;
      if (tier.name !== request.tier)
        warn(
          `unknown_tier:${request.tier}`,
          undefined,
          `key "${request.keyName}" names tier "${request.tier}", which ${tiers.source} does not have; ` +
            'it is limited as the strictest tier',
        );
      // Reconnecting (a cluster node died): counted once the bus is back, as the request is
      // published only then. Still down: refused now, before its body is even read.
      if (!(await waitConnected(bus, RECONNECT_WAIT_MS)))
        throw new AgentbusError('bus_unavailable', 'The message bus (NATS) is unavailable; try again shortly.');
      const { tenant } = request;
      const requestId = request.requestId ?? `lease-${randomBytes(12).toString('base64url')}`;
      const lease =
        tier.concurrentStreams === undefined
          ? undefined
          : { id: requestId, until: leases.untilAt(Date.now(), request.leaseUntil) };
      let released: Promise<void> | undefined;
      /** `counted`: the store took this request's token, which a refund may give back. */
      const releaser =
        (counted: boolean) =>
        (how: { refund?: boolean } = {}): Promise<void> => {
          const refund = counted && how.refund === true && tier.windows.length > 0 ? tier : undefined;
          if (!lease && !refund) return (released ??= Promise.resolve());
          return (released ??= leases.release(tenant, requestId, lease?.until ?? Date.now() + 10_000, refund));
        };
      let decision: Decision;
      try {
        decision = await store.update(tenant, (current) => {
          const outcome = decide(parseTenantState(current), tier, Date.now(), lease, request.inputBytes);
          return { write: outcome.kind === 'admit' ? JSON.stringify(outcome.next) : undefined, result: outcome };
        });
      } catch (err) {
        if (err instanceof StoreContentionError) throw contended(request);
        if (!(err instanceof StoreUnavailableError)) throw err;
        // The write may still land after its timeout: a release removes the lease (not renewed,
        // it lapses within one ttl otherwise).
        if (storeDown === 'closed') {
          warn('store_unavailable', err, 'rate limit store unavailable: refusing requests of limited keys');
          if (lease) releaser(false)().catch(() => undefined);
          throw storeDownError(request, options.bucket);
        }
        warn('store_unavailable', err, 'rate limit store unavailable: letting this request through unlimited');
        return lease
          ? { headers: NO_HEADERS, release: releaser(false), charge: chargeNothing, chargeBytes: chargeNoBytes }
          : UNLIMITED;
      }
      if (decision.kind !== 'admit') throw refusal(decision, request, tier);
      if (lease) leases.hold(tenant, requestId, request.leaseUntil, lease.until);
      const headers = rateLimitHeaders(tier, decision.tightest);
      return {
        headers,
        release: releaser(true),
        charge: (calls) => charge(request, tier, calls, headers),
        chargeBytes: (extra, total) => chargeBytes(request, tier, extra, total),
      };
    },
  };

  /** More bytes of input (a body read, a frame); a store that is down is treated as for admissions. */
  async function chargeBytes(
    request: Pick<AdmissionRequest, 'tenant' | 'keyName' | 'tier'>,
    tier: RateTier,
    extra: number,
    total: number,
  ): Promise<void> {
    if (extra <= 0 || !tier.inputBytes) return;
    let decision: Decision;
    try {
      decision = await store.update(request.tenant, (current) => {
        const outcome = decideBytes(parseTenantState(current), tier, Date.now(), extra, total);
        return { write: outcome.kind === 'admit' ? JSON.stringify(outcome.next) : undefined, result: outcome };
      });
    } catch (err) {
      if (err instanceof StoreContentionError) throw contended(request);
      if (!(err instanceof StoreUnavailableError)) throw err;
      if (storeDown === 'closed') {
        warn('store_unavailable', err, 'rate limit store unavailable: refusing requests of limited keys');
        throw storeDownError(request, options.bucket);
      }
      warn('store_unavailable', err, 'rate limit store unavailable: not counting the bytes of a body');
      return;
    }
    if (decision.kind !== 'admit') throw refusal(decision, request, tier);
  }

  /** More tokens for an admitted request; a store that is down is treated as for admissions. */
  async function charge(
    request: AdmissionRequest,
    tier: RateTier,
    calls: number,
    headers: Readonly<Record<string, string>>,
  ): Promise<Readonly<Record<string, string>>> {
    if (calls <= 0 || tier.windows.length === 0) return headers;
    // More model calls than a window holds at all: no wait ever admits the request (as a body
    // larger than the whole byte budget), so it is refused as such, without a Retry-After.
    const neverFits = tier.windows.find((window) => calls + 1 > window.limit);
    let decision: Decision;
    try {
      decision = await store.update(request.tenant, (current) => {
        const [state, now] = [parseTenantState(current), Date.now()];
        const charged = neverFits ? undefined : decideCharge(state, tier, now, calls);
        if (charged?.kind === 'admit') return { write: JSON.stringify(charged.next), result: charged };
        // Refused, the request gives back its admission's token; the 429 tells what is left then.
        const refunded = refundAdmission(state, tier, now);
        return { write: JSON.stringify(refunded), result: decideCharge(refunded, tier, now, calls + 1) };
      });
    } catch (err) {
      if (err instanceof StoreContentionError) throw contended(request);
      if (!(err instanceof StoreUnavailableError)) throw err;
      if (storeDown === 'closed') {
        warn('store_unavailable', err, 'rate limit store unavailable: refusing requests of limited keys');
        throw storeDownError(request, options.bucket);
      }
      warn('store_unavailable', err, 'rate limit store unavailable: not counting the further calls of a fan-out');
      return headers;
    }
    if (decision.kind === 'admit') return rateLimitHeaders(tier, decision.tightest);
    if (neverFits) throw callsOverWindow(request, tier, neverFits, calls + 1);
    const note = ` This request makes ${calls + 1} model calls (a fan-out), each counted.`;
    throw refusal(decision, request, tier, note);
  }
}
