import { AgentbusError } from '../../bus-schemas/index.js';
import type { Logger } from '../../common/logger.js';
import type { Bus } from '../../common/bus.js';
import { RECONNECT_WAIT_MS, waitConnected } from '../../common/wait-connected.js';
import { rateLimitHeaders, retryAfterSeconds } from './rate-limit-headers.js';
import type { RateTier, RateTiers, WindowName } from './rate-tiers.js';
import { createLeaseKeeper, DEFAULT_LEASE_TIMING, type LeaseTiming } from './lease-keeper.js';
import { batchPerTenant } from './tenant-batches.js';
import { decide, decideCharge, parseTenantState, refundToken, type Decision } from './tenant-state.js';
import { createTenantStore, StoreContentionError, StoreUnavailableError, type TenantStore } from './tenant-store.js';
import { warnEvery } from '../../common/warn-every.js';

/** A request the limiter let through: headers for its response, and the end of its lease. */
export interface Admission {
  /** `x-ratelimit-*` and `RateLimit-*` headers (none for a tier without request limits). */
  readonly headers: Readonly<Record<string, string>>;
  /**
   * Frees the request's concurrency lease; safe to call more than once, never throws. Resolves
   * after one attempt; a failed one is retried in the background (see the lease keeper).
   */
  release(): Promise<void>;
  /**
   * Counts `calls` more model calls of this request (a fan-out's further agents and its
   * aggregator): that many more tokens from every window, all or none. Resolves with the
   * headers for what is left, or throws the 429 and gives back the admission's token; takes
   * nothing from a request let through unlimited.
   */
  charge(calls: number): Promise<Readonly<Record<string, string>>>;
}

/** Who asks, for {@link RateLimiter.admit}. */
export interface AdmissionRequest {
  /** Whose buckets: the key's tenant id. */
  tenant: string;
  /** The key's display name, for messages (never the key). */
  keyName: string;
  /** The key's tier; a name missing from the table is limited as the strictest tier. */
  tier: string;
  /** The lease's id: the request id. */
  requestId: string;
  /**
   * The request's deadline: its lease is renewed until then at most. A lease itself is short
   * ({@link LeaseTiming}) so that a crashed gateway's slots free within seconds.
   */
  leaseUntil: number;
}

/** Per-key limits shared by every gateway replica through one JetStream KV bucket. */
export interface RateLimiter {
  readonly tiers: RateTiers;
  /**
   * Takes one request from every window and a concurrency lease, or throws a 429 whose
   * {@link refusalOf} says when to retry.
   */
  admit(request: AdmissionRequest): Promise<Admission>;
}

/** What a 429 of the limiter adds to its error: when to come back, and the rate-limit headers. */
export interface Refusal {
  readonly retryAfterSeconds: number;
  /** `Retry-After` and, for a request limit, the `x-ratelimit-*` / `RateLimit-*` headers. */
  readonly headers: Readonly<Record<string, string>>;
}

// Kept beside the error rather than in a subclass: errors are compared by code, never by class.
const refusals = new WeakMap<object, Refusal>();

/** The limiter's details of a refused request's error, or undefined for any other error. */
export function refusalOf(err: unknown): Refusal | undefined {
  return typeof err === 'object' && err !== null ? refusals.get(err) : undefined;
}

function refused(error: AgentbusError, retryAfter: number, headers: Record<string, string>): AgentbusError {
  refusals.set(error, { retryAfterSeconds: retryAfter, headers: { ...headers, 'retry-after': String(retryAfter) } });
  return error;
}

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});
const chargeNothing = async () => NO_HEADERS;
const UNLIMITED: Admission = Object.freeze({
  headers: NO_HEADERS,
  release: async () => undefined,
  charge: chargeNothing,
});

const WINDOW_WORD: Record<WindowName, string> = { minute: 'minute', hour: 'hour', day: 'day' };

function refusal(
  decision: Exclude<Decision, { kind: 'admit' }>,
  request: AdmissionRequest,
  tier: RateTier,
  note = '',
): AgentbusError {
  const who = `key "${request.keyName}"`;
  const tierName =
    tier.name === request.tier ? tier.name : `${request.tier}, not in the tiers file: limited as the strictest`;
  if (decision.kind === 'rate') {
    const seconds = retryAfterSeconds(decision.retryAfterMs);
    return refused(
      new AgentbusError(
        'rate_limit_exceeded',
        `Rate limit reached for ${who}: ` +
          `${decision.blocking.limit} requests per ${WINDOW_WORD[decision.blocking.window]} (tier ${tierName}). ` +
          `Try again in ${seconds} s.${note}`,
      ),
      seconds,
      rateLimitHeaders(tier, decision.blocking),
    );
  }
  // A request in flight may end any moment: there is no better guess than soon.
  return refused(
    new AgentbusError(
      'too_many_concurrent_requests',
      `Concurrency limit reached for ${who}: ${decision.cap} requests in flight at once (tier ${tierName}). ` +
        'Wait for one to finish.',
    ),
    1,
    {},
  );
}

/** Every attempt lost its race: the tenant is too busy to count, so the request is not let through. */
function contended(request: AdmissionRequest): AgentbusError {
  return refused(
    new AgentbusError(
      'rate_limit_exceeded',
      `Too many requests for key "${request.keyName}" at the same moment to count them all; try again in 1 s.`,
    ),
    1,
    {},
  );
}

/**
 * The rate limiter. It fails open in exactly two cases, each for the one request concerned:
 * NATS is disconnected (the request fails with `bus_unavailable` on its own), or the store did
 * not answer this request in time or failed ({@link StoreUnavailableError}: a KV call over
 * RATE_LIMIT_TIMEOUT_MS, JetStream off, the bucket gone) — a slow store must not become a second
 * outage. Everything else is not let through: lost races are retried and a tenant so busy that
 * every attempt loses is refused (429); an error of our own is the request's error. Updates of
 * one tenant are batched within the process, so a burst of one key races only other replicas.
 */
export function createRateLimiter(options: {
  bus: Bus;
  tiers: RateTiers;
  bucket: string;
  opTimeoutMs: number;
  log: Pick<Logger, 'warn' | 'info'>;
  store?: TenantStore;
  leaseTiming?: LeaseTiming;
}): RateLimiter {
  const { tiers, log } = options;
  const store = batchPerTenant(options.store ?? createTenantStore(options));
  const { bus } = options;
  const warn = warnEvery(log, 60_000);
  const leases = createLeaseKeeper(store, options.leaseTiming ?? DEFAULT_LEASE_TIMING, warn);

  return {
    tiers,
    async admit(request) {
      const tier = tiers.resolve(request.tier);
      if (tier.windows.length === 0 && tier.concurrentStreams === undefined) return UNLIMITED;
      if (tier.name !== request.tier)
        warn(
          `unknown_tier:${request.tier}`,
          undefined,
          `key "${request.keyName}" names tier "${request.tier}", which ${tiers.source} does not have; ` +
            'it is limited as the strictest tier',
        );
      // Reconnecting (a cluster node died): counted once the bus is back, as the request is
      // published only then. Still down: the publish that follows answers 503 bus_unavailable.
      if (!(await waitConnected(bus, RECONNECT_WAIT_MS))) return UNLIMITED;
      const { tenant, requestId } = request;
      const lease =
        tier.concurrentStreams === undefined
          ? undefined
          : { id: requestId, until: leases.untilAt(Date.now(), request.leaseUntil) };
      let released: Promise<void> | undefined;
      const releaseOnce = () =>
        (released ??= lease ? leases.release(tenant, requestId, lease.until) : Promise.resolve());
      let decision: Decision;
      try {
        decision = await store.update(tenant, (current) => {
          const outcome = decide(parseTenantState(current), tier, Date.now(), lease);
          return { write: outcome.kind === 'admit' ? JSON.stringify(outcome.next) : undefined, result: outcome };
        });
      } catch (err) {
        if (err instanceof StoreContentionError) throw contended(request);
        if (!(err instanceof StoreUnavailableError)) throw err;
        warn('store_unavailable', err, 'rate limit store unavailable: letting this request through unlimited');
        // The write may still land after its timeout: the release then removes the lease (not
        // renewed, it lapses within one ttl otherwise).
        return lease ? { headers: NO_HEADERS, release: releaseOnce, charge: chargeNothing } : UNLIMITED;
      }
      if (decision.kind !== 'admit') throw refusal(decision, request, tier);
      if (lease) leases.hold(tenant, requestId, request.leaseUntil, lease.until);
      const headers = rateLimitHeaders(tier, decision.tightest);
      return { headers, release: releaseOnce, charge: (calls) => charge(request, tier, calls, headers) };
    },
  };

  /** More tokens for an admitted request; the store failing lets them go, as it does admissions. */
  async function charge(
    request: AdmissionRequest,
    tier: RateTier,
    calls: number,
    headers: Readonly<Record<string, string>>,
  ): Promise<Readonly<Record<string, string>>> {
    if (calls <= 0 || tier.windows.length === 0) return headers;
    let decision: Decision;
    try {
      decision = await store.update(request.tenant, (current) => {
        const [state, now] = [parseTenantState(current), Date.now()];
        const charged = decideCharge(state, tier, now, calls);
        if (charged.kind === 'admit') return { write: JSON.stringify(charged.next), result: charged };
        // Refused, the request gives back its admission's token; the 429 tells what is left then.
        const refunded = refundToken(state, tier, now);
        return { write: JSON.stringify(refunded), result: decideCharge(refunded, tier, now, calls + 1) };
      });
    } catch (err) {
      if (err instanceof StoreContentionError) throw contended(request);
      if (!(err instanceof StoreUnavailableError)) throw err;
      warn('store_unavailable', err, 'rate limit store unavailable: not counting the further calls of a fan-out');
      return headers;
    }
    if (decision.kind === 'admit') return rateLimitHeaders(tier, decision.tightest);
    const note = ` This request makes ${calls + 1} model calls (a fan-out), each counted.`;
    throw refusal(decision, request, tier, note);
  }
}
