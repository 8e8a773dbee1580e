import { AgentbusError } from '../../bus-schemas/index.js';
import { withinScope } from './agent-scope-check.js';
import { isChatAgent, routeByRouter, type AgentChoice } from './choose-agents.js';
import type { ChatPlan } from './prepare.js';
import type { ChatDeps, ChatOrigin } from './types.js';

/**
 * The third stage: who answers. The agent the request named (checked when it was prepared),
 * else the router's choice, narrowed to the caller's scope. A client that left while the router
 * decided gets nothing published for it.
 */
export async function route(
  deps: Pick<ChatDeps, 'catalog' | 'router'>,
  plan: ChatPlan,
  origin: ChatOrigin,
): Promise<AgentChoice> {
  if (plan.named) return plan.named;
  const { caller } = origin;
  const decided = await routeByRouter(deps.catalog, deps.router, {
    text: plan.question,
    private: plan.private,
    hasTools: plan.envelope.tools !== undefined,
    caller,
    signal: origin.signal,
  });
  if (origin.signal?.aborted) {
    throw new AgentbusError('request_cancelled', 'The client went away while the request was being routed.');
  }
  // Which agents chat is asked only when the router's choice is refused (to suggest others).
  return withinScope(caller, decided, deps.catalog.names, (name) => isChatAgent(deps.catalog, name));
}
