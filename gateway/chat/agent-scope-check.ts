import { AgentbusError } from '../../bus-schemas/index.js';
import { mayCall, type Caller } from '../auth/caller.js';
import type { AgentChoice } from './choose-agents.js';

const scopeOf = (caller: Caller) => (caller.agents ?? []).join(', ');

/**
 * The choice as far as the caller's key may go. An agent the request names (body `model`, the
 * URL's agent) outside the key's scope is refused with 403 `agent_not_allowed`. An agent the
 * router picked (`model: "auto"`) is dropped from the answer instead, since the client did not
 * ask for it; only when the router picked no agent the key may call is the request refused.
 * An aggregator outside the scope leaves the agents' sections unmerged.
 */
export function withinScope(caller: Caller, choice: AgentChoice): AgentChoice {
  if (caller.agents === null) return choice;
  const named = choice.routing.by === 'path' || choice.routing.by === 'model';
  const allowed = choice.agents.filter((agent) => mayCall(caller, agent.name));
  if (allowed.length === 0) {
    const names = choice.agents.map((agent) => agent.name).join(', ');
    const message = named
      ? `This API key ("${caller.name}") may not call the agent "${names}". It may call: ${scopeOf(caller)}.`
      : `The router chose ${names} (${choice.routing.reason}), which this API key ("${caller.name}") may not call. Name an agent it may call: ${scopeOf(caller)}.`;
    throw new AgentbusError('agent_not_allowed', message, { param: 'model' });
  }
  if (allowed.length === choice.agents.length && (choice.aggregator === undefined || mayCall(caller, choice.aggregator.name))) return choice;
  const dropped = choice.agents.filter((agent) => !allowed.includes(agent)).map((agent) => agent.name);
  const aggregator = choice.aggregator && allowed.length > 1 && mayCall(caller, choice.aggregator.name) ? choice.aggregator : undefined;
  const { aggregator: _aggregator, ...routing } = choice.routing;
  return {
    agents: allowed,
    ...(aggregator ? { aggregator } : {}),
    routing: {
      ...routing,
      agents: allowed.map((agent) => agent.name),
      reason: `${choice.routing.reason}; outside this key's scope: ${[...dropped, ...(choice.aggregator && !aggregator && allowed.length > 1 ? [`${choice.aggregator.name} (aggregator)`] : [])].join(', ') || 'none'}`,
      ...(aggregator ? { aggregator: aggregator.name } : {}),
    },
  };
}
