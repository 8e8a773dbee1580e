import type { NatsConnection } from '@nats-io/transport-node';
import { AgentbusError } from '../../bus-schemas/index.js';
import type { Logger } from '../../common/logger.js';
import { busStateOf } from '../../common/nats.js';
import { rateLimitHeaders, retryAfterSeconds } from './rate-limit-headers.js';
import type { RateTier, RateTiers, WindowName } from './rate-tiers.js';
import { decide, parseTenantState, releaseLease, type Decision } from './tenant-state.js';
import { createTenantStore, StoreContentionError, type TenantStore } from './tenant-store.js';
import { warnEvery } from './warn-every.js';

/** A request the limiter let through: headers for its response, and the end of its lease. */
export interface Admission {
  /** `x-ratelimit-*` and `RateLimit-*` headers (none for a tier without request limits). */
  readonly headers: Readonly<Record<string, string>>;
  /** Frees the request's concurrency lease; safe to call more than once, never throws. */
  release(): Promise<void>;
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
  /** When the lease lapses if it is never released (a gateway crashed): the request's deadline. */
  leaseUntil: number;
}

/** Per-key limits shared by every gateway replica through one JetStream KV bucket. */
export interface RateLimiter {
  readonly tiers: RateTiers;
  /** Takes one request from every window and a concurrency lease, or throws a 429 whose {@link refusalOf} says when to retry. */
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

const WINDOW_WORD: Record<WindowName, string> = { minute: 'minute', hour: 'hour', day: 'day' };

function refusal(decision: Exclude<Decision, { kind: 'admit' }>, request: AdmissionRequest, tier: RateTier): AgentbusError {
  const who = `key "${request.keyName}"`;
  const tierName = tier.name === request.tier ? tier.name : `${request.tier}, not in the tiers file: limited as the strictest`;
  if (decision.kind === 'rate') {
    const seconds = retryAfterSeconds(decision.retryAfterMs);
    return refused(new AgentbusError('rate_limit_exceeded', `Rate limit reached for ${who}: ${decision.blocking.limit} requests per ${WINDOW_WORD[decision.blocking.window]} (tier ${tierName}). Try again in ${seconds} s.`), seconds, rateLimitHeaders(tier, decision.blocking));
  }
  // A request in flight may end any moment: there is no better guess than soon.
  return refused(new AgentbusError('too_many_concurrent_requests', `Concurrency limit reached for ${who}: ${decision.cap} requests in flight at once (tier ${tierName}). Wait for one to finish.`), 1, {});
}

/**
 * The rate limiter. When the store cannot answer in time (or NATS is down) it lets the request
 * through with a warning: with NATS down the request fails with `bus_unavailable` on its own,
 * and a slow store must not become a second outage. Lost races are retried a bounded number of
 * times; a tenant so busy that every attempt loses is refused (429), not let through.
 */
export function createRateLimiter(options: { nc: NatsConnection; tiers: RateTiers; bucket: string; opTimeoutMs: number; log: Pick<Logger, 'warn' | 'info'>; store?: TenantStore }): RateLimiter {
  const { tiers, log } = options;
  const store = options.store ?? createTenantStore(options);
  const bus = busStateOf(options.nc);
  const warn = warnEvery(log, 60_000);

  async function release(tenant: string, requestId: string): Promise<void> {
    try {
      await store.update(tenant, (current) => {
        const next = releaseLease(parseTenantState(current), requestId, Date.now());
        return { write: next && JSON.stringify(next), result: undefined };
      });
    } catch (err) {
      warn('release_failed', err, 'could not release a concurrency lease; it lapses at the request\'s deadline');
    }
  }

  return {
    tiers,
    async admit(request) {
      const tier = tiers.resolve(request.tier);
      if (tier.windows.length === 0 && tier.concurrentStreams === undefined) return UNLIMITED;
      if (tier.name !== request.tier) warn(`unknown_tier:${request.tier}`, undefined, `key "${request.keyName}" names tier "${request.tier}", which ${tiers.source} does not have; it is limited as the strictest tier`);
      // Down: the publish that follows answers 503 bus_unavailable at once; waiting for the
      // store's timeout first would only delay that answer.
      if (!bus.connected) return UNLIMITED;
      const lease = tier.concurrentStreams === undefined ? undefined : { id: request.requestId, until: request.leaseUntil };
      let decision: Decision;
      try {
        decision = await store.update(request.tenant, (current) => {
          const outcome = decide(parseTenantState(current), tier, Date.now(), lease);
          return { write: outcome.kind === 'admit' ? JSON.stringify(outcome.next) : undefined, result: outcome };
        });
      } catch (err) {
        if (err instanceof StoreContentionError) {
          throw refused(new AgentbusError('rate_limit_exceeded', `Too many requests for key "${request.keyName}" at the same moment to count them all; try again in 1 s.`), 1, {});
        }
        warn('store_unavailable', err, 'rate limit store unavailable: letting requests through unlimited until it answers');
        return UNLIMITED;
      }
      if (decision.kind !== 'admit') throw refusal(decision, request, tier);
      let released: Promise<void> | undefined;
      return {
        headers: rateLimitHeaders(tier, decision.tightest),
        release: () => (released ??= lease ? release(request.tenant, request.requestId) : Promise.resolve()),
      };
    },
  };
}
