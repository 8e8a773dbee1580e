import { AgentbusError } from '../../bus-schemas/index.js';
import { mayCall, type Caller } from '../auth/caller.js';
import type { AgentChoice } from './choose-agents.js';

/**
 * What the key may call, as the sentence that ends a refusal: only agents the catalog has (a
 * hand-edited keys file may name others, which no request could reach).
 */
function scopeSentence(caller: Caller, catalogNames: readonly string[], lead: string): string {
  const known = (caller.agents ?? []).filter((name) => catalogNames.includes(name));
  if (known.length === 0) return 'It may call no agent of the catalog: its keys-file entry names none that exists.';
  return `${lead}: ${known.join(', ')}.`;
}
/**
 * The end of a router's refusal: the chat agents of the scope to name instead (`isChat`: whether
 * a catalog agent chats), never an embedding agent, which a chat route refuses with a 400.
 */
function routerScopeSentence(caller: Caller, catalogNames: readonly string[], isChat: (name: string) => boolean) {
  const inCatalog = (caller.agents ?? []).filter((name) => catalogNames.includes(name));
  if (inCatalog.length > 0 && !inCatalog.some(isChat))
    return `It may call no chat agent, only embedding models (POST /v1/embeddings): ${inCatalog.join(', ')}.`;
  return scopeSentence(caller, catalogNames.filter(isChat), 'Name an agent it may call');
}
const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * `text` with every agent of `catalogNames` the caller may not call replaced by "another
 * agent": a routing reason ("classifier triage chose security") goes back to the client in
 * `meta.routing`, and a scoped key must not learn the names of agents outside its scope.
 */
export function hideOutOfScope(caller: Caller, text: string, catalogNames: readonly string[]): string {
  if (caller.agents === null) return text;
  const hidden = catalogNames.filter((name) => !mayCall(caller, name));
  if (hidden.length === 0) return text;
  // Longest first, whole names only (agent names are subject tokens: letters, digits, "_", "-").
  const pattern = new RegExp(
    `(?<![A-Za-z0-9_-])(?:${[...hidden]
      .sort((a, b) => b.length - a.length)
      .map(escapeRegExp)
      .join('|')})(?![A-Za-z0-9_-])`,
    'g',
  );
  return text.replace(pattern, 'another agent');
}

/**
 * The choice as far as the caller's key may go. An agent the request names (body `model`, the
 * URL's agent) outside the key's scope is refused with 403 `agent_not_allowed`. An agent the
 * router picked (`model: "auto"`) is dropped from the answer instead, since the client did not
 * ask for it; only when the router picked no agent the key may call is the request refused.
 * An aggregator outside the scope leaves the agents' sections unmerged. Neither the refusal
 * nor `meta.routing` names an agent outside the scope (`catalogNames`: every agent, to hide).
 * The router's refusal suggests only chat agents (`isChat`; default: every agent of `catalogNames`).
 */
export function withinScope(
  caller: Caller,
  choice: AgentChoice,
  catalogNames: readonly string[],
  isChat: (name: string) => boolean = () => true,
): AgentChoice {
  if (caller.agents === null) return choice;
  const named = choice.routing.by === 'path' || choice.routing.by === 'model';
  const allowed = choice.agents.filter((agent) => mayCall(caller, agent.name));
  if (allowed.length === 0) {
    const message = named
      ? `This API key ("${caller.name}") ` +
        `may not call the agent "${choice.agents.map((agent) => agent.name).join(', ')}". ` +
        scopeSentence(caller, catalogNames, 'It may call')
      : `The router (${choice.routing.by}) chose no agent this API key ("${caller.name}") may call. ` +
        routerScopeSentence(caller, catalogNames, isChat);
    throw new AgentbusError('agent_not_allowed', message, { param: 'model' });
  }
  const reason = hideOutOfScope(caller, choice.routing.reason, catalogNames);
  if (
    allowed.length === choice.agents.length &&
    (choice.aggregator === undefined || mayCall(caller, choice.aggregator.name))
  ) {
    return reason === choice.routing.reason ? choice : { ...choice, routing: { ...choice.routing, reason } };
  }
  const dropped = choice.agents.length - allowed.length;
  const aggregator =
    choice.aggregator && allowed.length > 1 && mayCall(caller, choice.aggregator.name) ? choice.aggregator : undefined;
  const aggregatorDropped = choice.aggregator !== undefined && aggregator === undefined && allowed.length > 1;
  const { aggregator: _aggregator, ...routing } = choice.routing;
  const left = [...(dropped > 0 ? [`${dropped} agent(s)`] : []), ...(aggregatorDropped ? ['the aggregator'] : [])];
  return {
    agents: allowed,
    ...(aggregator ? { aggregator } : {}),
    routing: {
      ...routing,
      agents: allowed.map((agent) => agent.name),
      reason: `${reason}; left out, outside this key's scope: ${left.join(' and ') || 'none'}`,
      ...(aggregator ? { aggregator: aggregator.name } : {}),
    },
  };
}
