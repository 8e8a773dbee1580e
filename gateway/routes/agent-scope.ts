import type { FastifyInstance } from 'fastify';
import { AgentbusError } from '../../bus-schemas/index.js';
import type { Agent } from '../../common/catalog.js';
import type { ChatDeps } from '../chat/types.js';
import { bearerAuth } from '../auth/bearer-auth.js';
import { assertMayCall } from '../auth/caller.js';
import { completionsRoutes } from '../openai/completion-routes.js';
import { embeddingsRoutes } from '../openai/embedding-routes.js';
import { speechRoutes } from '../openai/speech-routes.js';
import { transcriptionRoutes } from '../openai/transcription-routes.js';
import { chatCompletionsRoutes } from '../openai/routes.js';
import { responsesRoutes } from '../openai/responses-routes.js';
import { storedCompletionsRoutes } from '../openai/stored-completions-routes.js';
import { storedResponsesRoutes } from '../openai/stored-responses-routes.js';
import { legacyRoutes } from '../legacy/routes.js';
import { modelsRoutes } from './models.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The agent named by a `/agents/<agent>/…` path; undefined on root routes. */
    pathAgent: Agent | undefined;
  }
}

/**
 * Per-agent base URLs (`/agents/<agent>/…`, registered with that prefix) for clients configured
 * with one URL per agent, as they were with one server per agent: health, chat (JSON and SSE),
 * the Responses API (stored responses too), the legacy routes and models, with the agent taken from the path.
 */
export async function agentScopedRoutes(app: FastifyInstance, options: { chat: ChatDeps }): Promise<void> {
  // Only the dependencies: the options also carry the `prefix` this plugin was registered
  // with, and passing that on to the child plugins would prefix their routes a second time.
  const deps = options.chat;
  app.addHook('onRequest', async (request) => {
    const name = (request.params as { agent?: string }).agent ?? '';
    const agent = deps.catalog.get(name);
    // Not the list of agents: this answers before authentication.
    if (!agent)
      throw new AgentbusError('model_not_found', `No agent named "${name}" is served here.`, { param: 'agent' });
    request.pathAgent = agent;
  });

  // Liveness, like /health, plus which agent this base URL reaches; no key needed.
  app.get('/health', async (request) => ({
    status: 'healthy',
    service: 'agentbus-gateway',
    agent: request.pathAgent!.name,
    model: request.pathAgent!.model,
    timestamp: new Date().toISOString(),
  }));

  await app.register(async (authed) => {
    authed.addHook('onRequest', bearerAuth(deps.keys));
    await authed.register(modelsRoutes, { catalog: deps.catalog });
    await authed.register(chatCompletionsRoutes, { ...deps, perAgent: true });
    await authed.register(completionsRoutes, { ...deps, perAgent: true });
    await authed.register(embeddingsRoutes, { ...deps, perAgent: true });
    await authed.register(speechRoutes, { ...deps, perAgent: true });
    await authed.register(transcriptionRoutes, { ...deps, perAgent: true });
    await authed.register(responsesRoutes, { ...deps, perAgent: true });
    // An SDK on this base URL retrieves, lists and deletes the responses it created here. Stored
    // responses are the key's, not the agent's (a conversation moves between agents), as at the root;
    // but the base URL of an agent the key may not call is refused whole, as its models list is.
    await authed.register(async (stored) => {
      stored.addHook('onRequest', async (request) => assertMayCall(request.caller, request.pathAgent!.name));
      await stored.register(storedResponsesRoutes, { bus: deps.bus, subjects: deps.subjects });
      await stored.register(storedCompletionsRoutes, { bus: deps.bus, subjects: deps.subjects });
    });
    await authed.register(legacyRoutes, deps);
  });
}
