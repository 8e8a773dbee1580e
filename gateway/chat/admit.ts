import type { Caller } from '../auth/caller.js';
import type { GatewayConfig } from '../config.js';
import type { Admission, RateLimiter } from '../rate-limit/rate-limiter.js';
import type { AgentChoice } from './choose-agents.js';
import type { ChatPlan } from './prepare.js';

// A lease outlives any answer (retries share the deadline; a fan-out's aggregator comes after
// its parts), so it lapses on its own only when its gateway is gone.
const leaseMsFor = (config: GatewayConfig) => 2 * config.requestTimeoutMs + 5_000;

/**
 * The second stage: the key's rate limits and concurrency cap. Before routing, because the
 * classifier publishes too, and a refused request must publish nothing. Throws the 429.
 */
export function admit(
  rateLimiter: RateLimiter,
  config: GatewayConfig,
  plan: ChatPlan,
  caller: Caller,
): Promise<Admission> {
  return rateLimiter.admit({
    tenant: caller.tenant,
    keyName: caller.name,
    tier: caller.tier,
    requestId: plan.requestId,
    leaseUntil: plan.now + leaseMsFor(config),
  });
}

/**
 * Each model call of a fan-out counts against the key's rate limits: admission took one token,
 * the further agents and the aggregator take theirs now, after routing showed how many there
 * are (all or none: the 429 refuses the whole request before any agent is asked, and gives
 * back the admission's token).
 */
export async function chargeModelCalls(admission: Admission, choice: AgentChoice): Promise<Admission> {
  const calls = choice.agents.length + (choice.aggregator ? 1 : 0);
  if (calls <= 1) return admission;
  return { ...admission, headers: await admission.charge(calls - 1) };
}
