import type { FastifyInstance } from 'fastify';
import { AgentbusError } from '../../bus-schemas/index.js';
import type { Agent, Catalog } from '../../common/catalog.js';
import { assertMayCall, mayCall } from '../auth/caller.js';
import { AUTO_MODEL, chatAgentsVisibleTo, namesVisibleTo } from '../chat/choose-agents.js';

/**
 * An agent in OpenAI's model object shape; `description` and `kind` are agentbus's additions:
 * `kind` says which routes take it (`chat`: chat and text completions, `embedding`: embeddings;
 * `speech` and `transcription` for the aliases below).
 */
function modelObject(agent: Agent, created: number) {
  return {
    id: agent.name,
    object: 'model' as const,
    created,
    owned_by: 'agentbus',
    kind: agent.kind,
    description: agent.description,
  };
}

/** What an alias of the catalog is for, by the catalog key it is listed under. */
const ALIAS_USES = {
  speech: { route: 'POST /v1/audio/speech', what: 'Speech' },
  transcription: { route: 'POST /v1/audio/transcriptions', what: 'Transcription' },
} as const;
type AliasKind = keyof typeof ALIAS_USES;

/**
 * A model alias of the catalog (a voice agent's `speech.aliases`, e.g. `tts-1`, or
 * `transcription.aliases`, e.g. `whisper-1`): OpenAI's model names that reach an agent, listed so
 * SDKs and model pickers find them. `kind` says the route they are for (`speech`, which also
 * speaks chat answers, or `transcription`), not chat.
 */
function aliasObject(alias: string, agent: Agent, kind: AliasKind, created: number) {
  const use = ALIAS_USES[kind];
  return {
    id: alias,
    object: 'model' as const,
    created,
    owned_by: 'agentbus',
    kind,
    description: `${use.what} model name of the voice agent "${agent.name}" (${use.route}).`,
    alias_of: agent.name,
  };
}

/** The aliases of `agents`, each with its agent and kind. */
const aliasesOf = (agents: readonly Agent[]) =>
  agents.flatMap((agent) => [
    ...(agent.speech?.aliases ?? []).map((alias) => ({ alias, agent, kind: 'speech' as const })),
    ...(agent.transcription?.aliases ?? []).map((alias) => ({ alias, agent, kind: 'transcription' as const })),
  ]);

/** `auto`, listed after the agents so model pickers offer it: the router chooses. */
function autoModel(created: number) {
  return {
    id: AUTO_MODEL,
    object: 'model' as const,
    created,
    owned_by: 'agentbus',
    kind: 'chat' as const,
    description:
      'Lets the router choose the agent(s) that answer: ' +
      'the routing table (ROUTING_FILE), then the classifier, then the default agent. meta.routing says why.',
  };
}

/**
 * `GET /v1/models` and `GET /v1/models/{model}`: the agents of the catalog the caller's key may
 * call, as OpenAI models, then their aliases, then `auto`; under a per-agent base URL, only that agent (and its
 * aliases). An agent outside the
 * key's scope is not listed, and asking for it (or listing under its base URL) is the 403 a chat
 * request would get.
 */
export async function modelsRoutes(app: FastifyInstance, { catalog }: { catalog: Catalog }): Promise<void> {
  app.get('/v1/models', async (request) => {
    // A base URL of an agent the key may not call: the 403 every route under it gives, not an empty list.
    if (request.pathAgent) assertMayCall(request.caller, request.pathAgent.name);
    const agents = (request.pathAgent ? [request.pathAgent] : catalog.agents).filter((agent) =>
      mayCall(request.caller, agent.name),
    );
    return {
      object: 'list' as const,
      data: [
        ...agents.map((agent) => modelObject(agent, catalog.created)),
        // An alias that is also an agent's name is that agent's: listed once.
        ...aliasesOf(agents)
          .filter(({ alias }) => !catalog.get(alias))
          .map(({ alias, agent, kind }) => aliasObject(alias, agent, kind, catalog.created)),
        // `auto` only for a key that may call a chat agent: the router has nothing else to choose.
        ...(request.pathAgent || !agents.some((agent) => agent.kind !== 'embedding')
          ? []
          : [autoModel(catalog.created)]),
      ],
    };
  });

  // A wildcard, not `:model`: a model id may hold a slash (Hugging Face's `org/model-7b`), sent
  // unencoded by clients as OpenAI-compatible servers take it; encoded, it arrives decoded alike.
  app.get<{ Params: { '*': string } }>('/v1/models/*', async (request) => {
    const model = request.params['*'];
    // The segment limit a parametric route kept (maxParamLength), which a wildcard does not apply.
    const maxParamLength = app.initialConfig.maxParamLength ?? 100;
    if (model.split('/').some((segment) => segment.length > maxParamLength))
      throw new AgentbusError('uri_too_long', 'A path segment of the URL is too long.');
    // A base URL the key may not use: the 403 of every route there, whatever model is asked for.
    if (request.pathAgent) assertMayCall(request.caller, request.pathAgent.name);
    const offersAuto = !request.pathAgent && chatAgentsVisibleTo(catalog, request.caller).length > 0;
    if (model === AUTO_MODEL && offersAuto) return autoModel(catalog.created);
    const aliased = catalog.get(model) ? undefined : aliasesOf(catalog.agents).find(({ alias }) => alias === model);
    const found = catalog.get(model) ?? aliased?.agent;
    const agent = request.pathAgent && found !== request.pathAgent ? undefined : found;
    // Only the agents this key may call: a scoped key does not learn the other agents' names.
    // Under a per-agent base URL, only what it serves: the other agents are 404 there too.
    if (!agent && request.pathAgent) {
      const served = [request.pathAgent.name, ...aliasesOf([request.pathAgent]).map(({ alias }) => alias)];
      throw new AgentbusError(
        'model_not_found',
        `The model "${model}" is not served under /agents/${request.pathAgent.name}/. ` +
          `Models of this base URL: ${served.join(', ')}.`,
        { param: 'model' },
      );
    }
    if (!agent)
      throw new AgentbusError(
        'model_not_found',
        `The model "${model}" does not exist. ` +
          `Known agents: ${namesVisibleTo(catalog, request.caller).join(', ') || '(none for this key)'}` +
          `${offersAuto ? `, and "${AUTO_MODEL}"` : ''}.`,
        { param: 'model' },
      );
    assertMayCall(request.caller, agent.name, aliased ? model : agent.name);
    return aliased
      ? aliasObject(aliased.alias, agent, aliased.kind, catalog.created)
      : modelObject(agent, catalog.created);
  });
}
