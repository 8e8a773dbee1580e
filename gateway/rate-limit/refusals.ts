import { AgentbusError } from '../../bus-schemas/index.js';
import { rateLimitHeaders, retryAfterSeconds } from './rate-limit-headers.js';
import type { RateTier, WindowLimit, WindowName } from './rate-tiers.js';
import type { Decision } from './tenant-state.js';

/** Who was refused, for the messages. */
interface Refused {
  readonly keyName: string;
  readonly tier: string;
}

/** What a 429 of the limiter adds to its error: when to come back, and the rate-limit headers. */
export interface Refusal {
  readonly retryAfterSeconds: number;
  /** `Retry-After` and, for a request limit, the `x-ratelimit-*` / `RateLimit-*` headers. */
  readonly headers: Readonly<Record<string, string>>;
}

// Kept beside the error rather than in a subclass: errors are compared by code, never by class.
const refusals = new WeakMap<object, Refusal>();

/**
 * The limiter's details of a refused request's error, or undefined for any other error. An error
 * restated in another API's terms (`AgentbusError.restated`) carries the refusal as its cause.
 */
export function refusalOf(err: unknown): Refusal | undefined {
  for (let depth = 0; depth < 4 && typeof err === 'object' && err !== null; depth++) {
    const refusal = refusals.get(err);
    if (refusal) return refusal;
    err = (err as { cause?: unknown }).cause;
  }
  return undefined;
}

export function refused(error: AgentbusError, retryAfter: number, headers: Record<string, string>): AgentbusError {
  refusals.set(error, { retryAfterSeconds: retryAfter, headers: { ...headers, 'retry-after': String(retryAfter) } });
  return error;
}

/** RATE_LIMIT_STORE_DOWN=closed: a limited key's request while the store cannot count it. */
export function storeDownError(request: Refused, bucket: string): AgentbusError {
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

/** The tier as a message names it: a keys-file tier the tiers file lacks is limited as the strictest. */
const tierNameOf = (request: Refused, tier: RateTier) =>
  tier.name === request.tier ? tier.name : `${request.tier}, not in the tiers file: limited as the strictest`;

/** Every attempt lost its race: the tenant is too busy to count, so the request is not let through. */
export function contended(request: Refused): AgentbusError {
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
 * A request that makes more model calls (a fan-out, a spoken answer) than one window of its tier
 * allows at all: 413, as a body larger than the whole byte budget, since no wait would admit it
 * (a 429's Retry-After would have clients retry it forever). Its admission's token is given back.
 */
export function callsOverWindow(request: Refused, tier: RateTier, window: WindowLimit, calls: number): AgentbusError {
  return new AgentbusError(
    'request_too_large',
    `This request makes ${calls} model calls (a fan-out), each counted, and key "${request.keyName}" ` +
      `may make ${window.limit} per ${WINDOW_WORD[window.window]} (tier ${tierNameOf(request, tier)}): ` +
      'it can never be admitted. ' +
      'Name one agent as the model, or use a key of a tier with a higher limit.',
  );
}

/** The 429 (or 413) of a refused decision; `note` adds why the request needed what it did. */
export function refusal(
  decision: Exclude<Decision, { kind: 'admit' }>,
  request: Refused,
  tier: RateTier,
  note = '',
): AgentbusError {
  const who = `key "${request.keyName}"`;
  const tierName = tierNameOf(request, tier);
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
