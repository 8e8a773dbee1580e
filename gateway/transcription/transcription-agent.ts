import { AgentbusError } from '../../bus-schemas/index.js';
import type { Agent, Catalog } from '../../common/catalog.js';
import { mayCall, type Caller } from '../auth/caller.js';

/** The model names that reach a listening voice agent the caller may call: agents and their aliases. */
function transcriptionNamesVisibleTo(catalog: Catalog, caller: Caller): string[] {
  return catalog.agents
    .filter((a) => a.transcription && mayCall(caller, a.name))
    .flatMap((a) => [a.name, ...(a.transcription?.aliases ?? [])]);
}

/**
 * The voice agent a transcription names (the URL's agent on per-agent routes, else `model`, an
 * agent with `transcription` in the catalog or one of its aliases such as `whisper-1`). Unknown:
 * 404 `model_not_found` listing what the key may use; outside the key's scope: 403; an agent that
 * does not listen: 400 naming `model`.
 */
export function transcriptionAgent(
  catalog: Catalog,
  model: string,
  pathAgent: Agent | undefined,
  caller: Caller,
): Agent {
  const agent = pathAgent ?? catalog.get(model) ?? catalog.agents.find((a) => a.transcription?.aliases.includes(model));
  const known = transcriptionNamesVisibleTo(catalog, caller).join(', ') || '(none for this key)';
  if (!agent)
    throw new AgentbusError('model_not_found', `The model "${model}" does not exist. Transcription models: ${known}.`, {
      param: 'model',
    });
  if (!mayCall(caller, agent.name))
    throw new AgentbusError(
      'agent_not_allowed',
      `This API key ("${caller.name}") may not call the agent "${agent.name}".`,
      { param: 'model' },
    );
  if (!agent.transcription)
    throw new AgentbusError(
      'invalid_request',
      `"${agent.name}" does not transcribe (no "transcription" in the agent catalog). Transcription models: ${known}.`,
      { param: 'model' },
    );
  return agent;
}
