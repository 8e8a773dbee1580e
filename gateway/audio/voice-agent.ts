import { AgentbusError } from '../../bus-schemas/index.js';
import type { Agent, Catalog } from '../../common/catalog.js';
import { assertMayCall, mayCall, type Caller } from '../auth/caller.js';
import { refuseAutoOffChat } from '../chat/choose-agents.js';
import { refuseAudioAlias } from './audio-alias.js';

/** What a voice agent does on an audio route: the catalog key that says it can, and its wording. */
const USES = {
  speech: { label: 'Speech', cannot: 'does not speak' },
  transcription: { label: 'Transcription', cannot: 'does not transcribe' },
} as const;
export type VoiceUse = keyof typeof USES;

/** The model names that reach a voice agent of this use the caller may call: agents and their aliases. */
function namesVisibleTo(catalog: Catalog, use: VoiceUse, caller: Caller): string[] {
  return catalog.agents
    .filter((a) => a[use] && mayCall(caller, a.name))
    .flatMap((a) => [a.name, ...(a[use]?.aliases ?? [])]);
}

/**
 * The voice agent a speech or transcription request names (the URL's agent on per-agent routes,
 * else `model`: an agent with `speech`/`transcription` in the catalog, or one of its aliases such
 * as `tts-1` or `whisper-1`). Unknown: 404 `model_not_found` listing what the key may use;
 * outside the key's scope: 403; an agent without that use, `auto`, or the other use's alias: 400 naming `model`.
 */
export function voiceAgent(
  catalog: Catalog,
  use: VoiceUse,
  model: string,
  pathAgent: Agent | undefined,
  caller: Caller,
): Agent {
  const { label, cannot } = USES[use];
  const agent = pathAgent ?? catalog.get(model) ?? catalog.agents.find((a) => a[use]?.aliases.includes(model));
  const known = namesVisibleTo(catalog, use, caller).join(', ') || '(none for this key)';
  // Another route's audio model (`whisper-1` here for speech) is listed by GET /v1/models: not "unknown".
  if (!agent) {
    const kind = `a ${label.toLowerCase()}`;
    const hint = `${label} models: ${known}.`;
    refuseAutoOffChat(catalog, caller, model, kind, hint);
    refuseAudioAlias(catalog, caller, model, kind, () => hint);
  }
  if (!agent)
    throw new AgentbusError('model_not_found', `The model "${model}" does not exist. ${label} models: ${known}.`, {
      param: 'model',
    });
  assertMayCall(caller, agent.name, pathAgent ? agent.name : model);
  if (!agent[use])
    throw new AgentbusError(
      'invalid_request',
      `"${agent.name}" ${cannot} (no "${use}" in the agent catalog). ${label} models: ${known}.`,
      { param: 'model' },
    );
  return agent;
}
