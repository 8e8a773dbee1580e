import type { Agent, Catalog } from '../../common/catalog.js';

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
