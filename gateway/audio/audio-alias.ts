import { AgentbusError } from '../../bus-schemas/index.js';
import type { Agent, Catalog } from '../../common/catalog.js';
import { assertMayCall, type Caller } from '../auth/caller.js';

// The catalog's audio model names (GET /v1/models lists them with their own `kind`), by use.
const AUDIO_USES = [
  { use: 'speech', what: 'a speech', route: 'POST /v1/audio/speech' },
  { use: 'transcription', what: 'a transcription', route: 'POST /v1/audio/transcriptions' },
] as const;

/**
 * The voice agent whose `use` lists `model` among its aliases (`tts-1`, `whisper-1`), with words
 * for an error: what kind of model it is and its route. Undefined when no alias is that name.
 */
export function audioAliasOf(
  catalog: Catalog,
  model: string,
): { agent: Agent; use: 'speech' | 'transcription'; what: string; route: string } | undefined {
  for (const { use, what, route } of AUDIO_USES) {
    const agent = catalog.agents.find((a) => a[use]?.aliases.includes(model));
    if (agent) return { agent, use, what, route };
  }
  return undefined;
}

/**
 * Refuses `model` when it is an audio model name (`tts-1`, `whisper-1`) on a route for `kind`
 * models (`a chat`, `an embedding`): a 400 naming `model` that says what it is, then `hint`, rather
 * than "unknown", since GET /v1/models lists it; outside the key's scope, that route's 403.
 */
export function refuseAudioAlias(
  catalog: Catalog,
  caller: Caller,
  model: string,
  kind: string,
  hint: (agent: Agent) => string,
): void {
  const alias = audioAliasOf(catalog, model);
  if (!alias) return;
  const { agent, what, route } = alias;
  assertMayCall(caller, agent.name, model);
  throw new AgentbusError(
    'invalid_request',
    `This is not ${kind} model: "${model}" is ${what} model (${route}) of the voice agent "${agent.name}". ` +
      hint(agent),
    { param: 'model' },
  );
}
