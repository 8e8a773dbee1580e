import { AgentbusError } from '../../bus-schemas/index.js';
import type { Agent, Catalog } from '../../common/catalog.js';
import { mayCall, type Caller } from '../auth/caller.js';

/** The model names that reach a voice agent the caller may call: agents and their aliases. */
function speechNamesVisibleTo(catalog: Catalog, caller: Caller): string[] {
  return catalog.agents
    .filter((a) => a.speech && mayCall(caller, a.name))
    .flatMap((a) => [a.name, ...(a.speech?.aliases ?? [])]);
}

/**
 * The voice agent a speech request names (the URL's agent on per-agent routes, else `model`,
 * an agent with `speech` in the catalog or one of its aliases such as `tts-1`). Unknown: 404
 * `model_not_found` listing what the key may use; outside the key's scope: 403; an agent that
 * does not speak: 400 naming `model`.
 */
export function speechAgent(catalog: Catalog, model: string, pathAgent: Agent | undefined, caller: Caller): Agent {
  const agent = pathAgent ?? catalog.get(model) ?? catalog.agents.find((a) => a.speech?.aliases.includes(model));
  const known = speechNamesVisibleTo(catalog, caller).join(', ') || '(none for this key)';
  if (!agent)
    throw new AgentbusError('model_not_found', `The model "${model}" does not exist. Speech models: ${known}.`, {
      param: 'model',
    });
  if (!mayCall(caller, agent.name))
    throw new AgentbusError(
      'agent_not_allowed',
      `This API key ("${caller.name}") may not call the agent "${agent.name}".`,
      { param: 'model' },
    );
  if (!agent.speech)
    throw new AgentbusError(
      'invalid_request',
      `"${agent.name}" does not speak (no "speech" in the agent catalog). Speech models: ${known}.`,
      { param: 'model' },
    );
  return agent;
}
