import { AgentbusError } from '../../bus-schemas/index.js';
import type { Agent, Catalog } from '../../common/catalog.js';
import { assertMayCall, mayCall, type Caller } from '../auth/caller.js';
import { refuseAudioAlias } from '../audio/audio-alias.js';
import { refuseAutoOffChat } from '../chat/choose-agents.js';

/** The embedding agents a caller may call, by name: what an error may list to that caller. */
export function embeddingNamesVisibleTo(catalog: Catalog, caller: Caller): string[] {
  return catalog.agents.filter((a) => a.kind === 'embedding' && mayCall(caller, a.name)).map((a) => a.name);
}

/**
 * The embedding agent an embeddings request names (the URL's agent on per-agent routes, else
 * `model`). Unknown: 404 `model_not_found` listing the embedding agents the key may call; a chat
 * agent, `auto` or an audio model (`tts-1`): 400 naming `model`; outside the key's scope: 403, as for chat.
 */
export function embeddingAgent(
  catalog: Catalog,
  model: string | undefined,
  pathAgent: Agent | undefined,
  caller: Caller,
): Agent {
  const agent = pathAgent ?? (model === undefined ? undefined : catalog.get(model));
  const known = embeddingNamesVisibleTo(catalog, caller).join(', ') || '(none for this key)';
  if (!agent && model !== undefined) {
    const hint = `Embedding models: ${known}.`;
    refuseAutoOffChat(catalog, caller, model, 'an embedding', hint);
    refuseAudioAlias(catalog, caller, model, 'an embedding', () => hint);
  }
  if (!agent)
    throw new AgentbusError(
      'model_not_found',
      `The model "${model ?? ''}" does not exist. Embedding models: ${known}.`,
      { param: 'model' },
    );
  assertMayCall(caller, agent.name);
  if (agent.kind !== 'embedding')
    throw new AgentbusError(
      'invalid_request',
      `"${agent.name}" is a chat agent and makes no embeddings; use it with /v1/chat/completions. ` +
        `Embedding models: ${known}.`,
      { param: 'model' },
    );
  return agent;
}
