import { systemClock, type Clock } from '../../common/clock.js';
import type { Caller } from '../auth/caller.js';
import type { GatewayConfig } from '../config.js';
import type { Admission, RateLimiter } from '../rate-limit/rate-limiter.js';
import type { AgentChoice } from './choose-agents.js';

// A lease outlives any answer (retries share the deadline; a fan-out's aggregator comes after
// its parts), so it lapses on its own only when its gateway is gone.
const leaseMsFor = (totalMs: number) => 2 * totalMs + 5_000;

/**
 * The key's rate limits, byte budget and concurrency cap, decided from the key alone: first of
 * all, before the body is read, parsed, checked or scanned for secrets (HTTP: a preParsing hook,
 * `http/admit-before-body.ts`), so a burst of big bodies from one key costs the gateway at most
 * its tier's allowance of work. Also before routing, because the classifier publishes too, and a
 * refused request must publish nothing. Throws the 429 (or 503 `rate_limit_unavailable`).
 * `totalMs`: the longest the request may take (an agent's own total timeout, else
 * REQUEST_TIMEOUT_MS), which sets how long its lease may run.
 */
export function admit(
  deps: { rateLimiter: RateLimiter; config: GatewayConfig; clock?: Clock | undefined },
  caller: Caller,
  inputBytes: number,
  totalMs = deps.config.requestTimeoutMs,
): Promise<Admission> {
  const now = (deps.clock ?? systemClock).now();
  return deps.rateLimiter.admit({
    tenant: caller.tenant,
    keyName: caller.name,
    tier: caller.tier,
    leaseUntil: now + leaseMsFor(totalMs),
    inputBytes,
  });
}

/**
 * The admission of a request counted already with the one that makes it (a spoken chat's speech:
 * {@link chargeModelCalls}' `laterCalls`): nothing to take, hold or give back.
 */
export const PREPAID_ADMISSION: Admission = Object.freeze({
  headers: Object.freeze({}),
  release: async () => undefined,
  charge: async () => ({}),
  chargeBytes: async () => undefined,
});

/**
 * Takes `bytes` of input that is not a request of its own (a WebSocket frame, charged as it
 * arrives, before it is parsed) from the key's byte budget; throws the 429 or 413 an HTTP body
 * of that size gets.
 */
export function chargeInputBytes(deps: { rateLimiter: RateLimiter }, caller: Caller, bytes: number): Promise<void> {
  return deps.rateLimiter.chargeBytes({ tenant: caller.tenant, keyName: caller.name, tier: caller.tier, bytes });
}

/**
 * Each model call of a fan-out counts against the key's rate limits: admission took one token,
 * the further agents and the aggregator take theirs now, after routing showed how many there
 * are, with the `laterCalls` the answer will make (a spoken answer's speech) — all or none: the
 * 429 refuses the whole request before any agent is asked, gives back the admission's token,
 * and its Retry-After is for all of them.
 */
export async function chargeModelCalls(admission: Admission, choice: AgentChoice, laterCalls = 0): Promise<Admission> {
  const calls = choice.agents.length + (choice.aggregator ? 1 : 0) + laterCalls;
  if (calls <= 1) return admission;
  return { ...admission, headers: await admission.charge(calls - 1) };
}
