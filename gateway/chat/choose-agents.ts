import type { SignalLike } from '../../common/light-signal.js';
import { AgentbusError, type Routing } from '../../bus-schemas/index.js';
import type { Agent, Catalog } from '../../common/catalog.js';
import { assertMayCall, mayCall, type Caller } from '../auth/caller.js';
import type { RouteDecision } from '../router/match-rules.js';
import { refuseAudioAlias } from '../audio/audio-alias.js';

/** The model name that asks the router to choose the agent(s). */
export const AUTO_MODEL = 'auto';

/** What the router offers the chat path: a decision for a text. */
export interface ChatRouter {
  route(
    text: string,
    options: {
      private?: boolean;
      signal?: SignalLike | undefined;
      /** The caller's scope: the classifier runs only as, and chooses only among, these agents. */
      mayCall?: (agent: string) => boolean;
    },
  ): Promise<RouteDecision>;
}

/** The agents that answer, in route order, and how they were chosen. */
export interface AgentChoice {
  agents: Agent[];
  aggregator?: Agent;
  routing: Routing;
}

function known(catalog: Catalog, name: string): Agent {
  const agent = catalog.get(name);
  // The routing table is checked against the catalog at boot; this guards a drifted file.
  if (!agent)
    throw new AgentbusError('internal_error', `The routing table names "${name}", which is not in the agent catalog.`);
  return agent;
}

/** The catalog's agents a caller may call, by name: what an error may list to that caller. */
export function namesVisibleTo(catalog: Catalog, caller: Caller): string[] {
  return catalog.names.filter((name) => mayCall(caller, name));
}

/** Whether the catalog's agent of this name chats (every kind but `embedding` does). */
export const isChatAgent = (catalog: Catalog, name: string): boolean => catalog.get(name)?.kind !== 'embedding';

/**
 * The chat agents a caller may call: what a chat route's 404 lists (an embedding agent does not
 * chat). None: `auto` is no choice for the key either (the router would find nothing to call).
 */
export function chatAgentsVisibleTo(catalog: Catalog, caller: Caller): string[] {
  return namesVisibleTo(catalog, caller).filter((name) => isChatAgent(catalog, name));
}

/**
 * `auto` sent to a route for `kind` models (`an embedding`, `a speech`): where GET /v1/models lists
 * it (the key may call a chat agent), a 400 naming `model` that says what it is, then `hint`,
 * rather than "does not exist".
 */
export function refuseAutoOffChat(catalog: Catalog, caller: Caller, model: string, kind: string, hint: string): void {
  if (model !== AUTO_MODEL || chatAgentsVisibleTo(catalog, caller).length === 0) return;
  throw new AgentbusError(
    'invalid_request',
    `This is not ${kind} model: "${AUTO_MODEL}" lets the router choose a chat agent (POST /v1/chat/completions). ` +
      hint,
    { param: 'model' },
  );
}

/**
 * A speech or transcription model name (`tts-1`, `whisper-1`) sent to a chat route: refused as
 * not a chat model (400 naming `model`), as OpenAI refuses it, rather than as unknown; outside
 * the key's scope, the 403 of GET /v1/models/{model}.
 */
function refuseAudioAliasForChat(catalog: Catalog, model: string, caller: Caller): void {
  refuseAudioAlias(
    catalog,
    caller,
    model,
    'a chat',
    (agent) => `Name a chat agent, e.g. "${agent.name}" itself (GET /v1/models lists every kind).`,
  );
}

/**
 * The agent a request names: the path's agent on per-agent routes (the body's model is then
 * only a hint), else the agent the body's model names; undefined when the router is to choose
 * (`model: "auto"` or none). An audio model name is a 400 ({@link refuseAudioAliasForChat}); another
 * unknown name is 404 `model_not_found`, listing only the agents the caller's key may call (a
 * scoped key does not learn the others' names).
 */
export function namedChoice(
  catalog: Catalog,
  model: string | undefined,
  pathAgent: Agent | undefined,
  caller: Caller,
): AgentChoice | undefined {
  const asked = pathAgent ?? (model === undefined || model === AUTO_MODEL ? undefined : catalog.get(model));
  if (asked?.kind === 'embedding') {
    // Outside the key's scope, the 403 a chat agent gets: the key learns nothing of the agent's kind.
    assertMayCall(caller, asked.name);
    throw new AgentbusError(
      'invalid_request',
      `"${asked.name}" is an embedding model and does not chat; send it to /v1/embeddings, ` +
        'or name a chat agent (GET /v1/models lists both kinds).',
      { param: 'model' },
    );
  }
  if (pathAgent)
    return {
      agents: [pathAgent],
      routing: { agents: [pathAgent.name], by: 'path', reason: 'the URL names the agent' },
    };
  if (model === undefined || model === AUTO_MODEL) return undefined;
  const agent = catalog.get(model);
  if (!agent) {
    refuseAudioAliasForChat(catalog, model, caller);
    const chat = chatAgentsVisibleTo(catalog, caller);
    throw new AgentbusError(
      'model_not_found',
      `The model "${model}" does not exist. ` +
        (chat.length > 0
          ? `Known agents: ${chat.join(', ')}; or "${AUTO_MODEL}" to let the router choose.`
          : 'This API key may call no chat agent.'),
      { param: 'model' },
    );
  }
  return { agents: [agent], routing: { agents: [agent.name], by: 'model', reason: 'the request names the agent' } };
}

/**
 * The router's choice, for `model: "auto"` and requests that name no agent. A request with tools
 * goes to one agent only: tool calls from several agents cannot be merged into one assistant
 * message; that one is the first of the router's agents the caller may call, so a scope does
 * not refuse a request the router's second agent could answer.
 */
export async function routeByRouter(
  catalog: Catalog,
  router: ChatRouter,
  request: { text: string; private: boolean; hasTools: boolean; caller: Caller; signal?: SignalLike | undefined },
): Promise<AgentChoice> {
  const decision = await router.route(request.text, {
    private: request.private,
    signal: request.signal,
    mayCall: (name) => mayCall(request.caller, name),
  });
  let agents = decision.agents.map((name) => known(catalog, name));
  let reason = decision.reason;
  let aggregator = decision.aggregator === undefined ? undefined : known(catalog, decision.aggregator);
  if (request.hasTools && agents.length > 1) {
    agents = [agents.find((agent) => mayCall(request.caller, agent.name)) ?? agents[0]!];
    aggregator = undefined;
    reason += `; the request has tools, so only ${agents[0]!.name} answers`;
  }
  const routing: Routing = {
    agents: agents.map((agent) => agent.name),
    by: decision.by,
    reason,
    ...(decision.rule !== undefined ? { rule: decision.rule } : {}),
    ...(aggregator && agents.length > 1 ? { aggregator: aggregator.name } : {}),
  };
  return { agents, ...(aggregator && agents.length > 1 ? { aggregator } : {}), routing };
}
