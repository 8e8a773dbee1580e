import { AgentbusError } from '../../bus-schemas/index.js';
import type { Agent, Catalog } from '../../common/catalog.js';
import { mayCall, type Caller } from '../auth/caller.js';

/** The voice agents (`speech` in the catalog) a key may call, in catalog order. */
export function voiceAgentsFor(catalog: Catalog, caller: Caller): Agent[] {
  return catalog.agents.filter((agent) => agent.speech && mayCall(caller, agent.name));
}

/**
 * Who speaks a chat answer: the answering agent when it is a voice agent itself, else the first
 * voice agent of the catalog the key may call. None: 400 naming `modalities`, sent before any
 * model is asked, so no answer is made in vain.
 */
export function answerVoice(catalog: Catalog, caller: Caller, answering: readonly string[] = []): Agent {
  const voices = voiceAgentsFor(catalog, caller);
  const own = voices.find((agent) => answering.length === 1 && agent.name === answering[0]);
  const voice = own ?? voices[0];
  if (!voice)
    throw new AgentbusError(
      'invalid_request',
      `No voice agent ("speech" in the agent catalog) that this API key ("${caller.name}") may call ` +
        'can speak the answer; ask for modalities ["text"].',
      { param: 'modalities' },
    );
  return voice;
}
