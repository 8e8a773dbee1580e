import { AgentbusError } from '../../bus-schemas/index.js';
import type { StoreDownPolicy } from './store-down.js';
import type { Logger } from '../../common/logger.js';
import type { Bus } from '../../common/bus.js';
import { RECONNECT_WAIT_MS, waitConnected } from '../../common/wait-connected.js';
import { rateLimitHeaders, retryAfterSeconds } from './rate-limit-headers.js';
import { isLimited, type RateTier, type RateTiers, type WindowName } from './rate-tiers.js';
import { createLeaseKeeper, DEFAULT_LEASE_TIMING, type LeaseTiming } from './lease-keeper.js';
import { batchPerTenant } from './tenant-batches.js';
import { decide, parseTenantState, type Decision } from './tenant-state.js';
import { createTenantStore, StoreContentionError, StoreUnavailableError, type TenantStore } from './tenant-store.js';
import { warnEvery } from '../../common/warn-every.js';

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
}

/** Who asks, for {@link RateLimiter.admit}. */
export interface AdmissionRequest {
  /** Whose buckets: the key's tenant id. */
  tenant: string;
  /** The key's display name, for messages (never the key). */
  keyName: string;
  /** The key's tier; a name missing from the table is limited as the strictest tier. */
  tier: string;
  /** The lease's id: unique per request. */
  requestId: string;
  /** Bytes of the request body (or WebSocket frame), counted against the tier's `max_input_bytes`. */
  inputBytes?: number;
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

const UNLIMITED: Admission = Object.freeze({ headers: Object.freeze({}), release: async () => undefined });

/** RATE_LIMIT_STORE_DOWN=closed: a limited key's request while the store cannot count it. */
function storeDownError(request: AdmissionRequest, bucket: string): AgentbusError {
  return refused(
    new AgentbusError(
      'rate_limit_unavailable',
      `The rate limit store (NATS KV bucket ${bucket}) does not answer, so the limits of key ` +
        `"${request.keyName}" cannot be checked; RATE_LIMIT_STORE_DOWN=closed refuses its requests meanwhile. ` +
        'Try again in a moment.',
    ),
    1,
    {},
  );
}

const WINDOW_WORD: Record<WindowName, string> = { minute: 'minute', hour: 'hour', day: 'day' };

function refusal(
  decision: Exclude<Decision, { kind: 'admit' }>,
  request: AdmissionRequest,
  tier: RateTier,
): AgentbusError {
  const who = `key "${request.keyName}"`;
  const tierName =
    tier.name === request.tier ? tier.name : `${request.tier}, not in the tiers file: limited as the strictest`;
  if (decision.kind === 'bytes') {
    if (decision.retryAfterMs === undefined) {
      return new AgentbusError(
        'request_too_large',
        `The body has ${decision.bytes} bytes; ${who} may send ${decision.limit} bytes per minute ` +
          `(max_input_bytes of tier ${tierName}). Send less.`,
      );
    }
    const seconds = retryAfterSeconds(decision.retryAfterMs);
    return refused(
      new AgentbusError(
        'rate_limit_exceeded',
        `Input limit reached for ${who}: ${decision.limit} bytes per minute (tier ${tierName}); ` +
          `this body has ${decision.bytes}. Try again in ${seconds} s.`,
      ),
      seconds,
      {},
    );
  }
  if (decision.kind === 'rate') {
    const seconds = retryAfterSeconds(decision.retryAfterMs);
    return refused(
      new AgentbusError(
        'rate_limit_exceeded',
        `Rate limit reached for ${who}: ` +
          `${decision.blocking.limit} requests per ${WINDOW_WORD[decision.blocking.window]} (tier ${tierName}). ` +
          `Try again in ${seconds} s.`,
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
      const { tenant, requestId } = request;
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
        if (err instanceof StoreContentionError) {
          throw refused(
            new AgentbusError(
              'rate_limit_exceeded',
              `Too many requests for key "${request.keyName}" at the same moment to count them all; try again in 1 s.`,
            ),
            1,
            {},
          );
        }
        if (!(err instanceof StoreUnavailableError)) throw err;
        // The write may still land after its timeout: a release removes the lease (not renewed,
        // it lapses within one ttl otherwise).
        if (storeDown === 'closed') {
          warn('store_unavailable', err, 'rate limit store unavailable: refusing requests of limited keys');
          if (lease) releaser(false)().catch(() => undefined);
          throw storeDownError(request, options.bucket);
        }
        warn('store_unavailable', err, 'rate limit store unavailable: letting this request through unlimited');
        return lease ? { headers: {}, release: releaser(false) } : UNLIMITED;
      }
      if (decision.kind !== 'admit') throw refusal(decision, request, tier);
      if (lease) leases.hold(tenant, requestId, request.leaseUntil, lease.until);
      return { headers: rateLimitHeaders(tier, decision.tightest), release: releaser(true) };
    },
  };
}
