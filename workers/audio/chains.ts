import { AgentbusError, type FallbackStep, type SpeechFormat } from '../../bus-schemas/index.js';
import type { AudioProviderName } from '../../common/agent-catalog.schema.js';
import { DEFAULT_TRANSCRIPTION_MODEL, type Agent, type AudioProviderRef } from '../../common/catalog.js';
import type { Clock } from '../../common/clock.js';
import type { Logger } from '../../common/logger.js';
import type { Redactor } from '../../common/redaction.js';
import { createBreakers, type BreakerSettings } from '../providers/breakers.js';
import { firstAnswer, type ChainRun } from '../providers/run-chain.js';
import { transcriptionChain, type TranscriptionChain } from './transcription-chain.js';
import type { AudioProvider } from './types.js';
import { replayFirst } from '../providers/replay-first.js';

/** What a worker needs to run chains of audio engines (as ChainSettings for chat). */
export interface AudioChainSettings {
  /** Makes the engine called `name`; asked at most once per name per worker. */
  createProvider(name: AudioProviderName): AudioProvider;
  /** SPEECH_PROVIDER: the chain of a voice agent whose catalog `speech` lists none. */
  defaultProvider: AudioProviderName;
  /** TRANSCRIPTION_PROVIDER: the chain of a voice agent whose catalog `transcription` lists none. */
  defaultTranscriptionProvider: AudioProviderName;
  /** LOCAL_AUDIO_PROVIDERS: the only engines a private request may use. */
  localProviders: readonly AudioProviderName[];
  breakers: BreakerSettings;
  /** Masks secrets before a non-local engine reads a text (when secrets do not make it private). */
  redactor: Redactor;
  clock?: Clock;
}

/** A speech request for a chain: the model comes from each link. */
export interface SpeakChainRequest {
  input: string;
  voice: string;
  format: SpeechFormat;
  speed: number;
  signal: AbortSignal;
  /** Only local engines may hear it. */
  private: boolean;
}

/** An engine that produced its first audio bytes, with the rest still to come. */
export interface OpenedSpeech {
  provider: AudioProviderName;
  model: string;
  voice: string;
  contentType: string;
  /** The first chunk again, then the rest. */
  audio: AsyncIterable<Buffer>;
  /** The steps away from the chain's first engine, in order (empty when it answered). */
  fallback: FallbackStep[];
}

export interface AudioChains extends TranscriptionChain {
  /** The voice agent's chain: its catalog `speech.providers`, else SPEECH_PROVIDER. */
  linksOf(agent: Agent): readonly AudioProviderRef[];
  /**
   * Tries the agent's chain in order until an engine yields its first audio bytes; fallback,
   * breakers and the private rule are chat's (providers/run-chain.ts).
   */
  speak(agent: Agent, request: SpeakChainRequest, log: Logger): Promise<OpenedSpeech>;
  /** Why no engine of the agent's speech chain may be called now (every circuit open), or undefined. */
  unavailable(agent: Agent): string | undefined;
  /** The same for the agent's transcription chain. */
  transcriptionUnavailable(agent: Agent): string | undefined;
}

/** What a chain does, for its errors: speech (espeak-ng is local) or transcription (pocketsphinx is). */
export type AudioTask = 'speech' | 'transcription';

const privacyHint = (task: AudioTask) =>
  " The request is private (X-Private, or a private key): only engines named in the worker's " +
  `LOCAL_AUDIO_PROVIDERS may take it. Add "${task === 'speech' ? 'espeak-ng' : 'pocketsphinx'}" to the agent's ` +
  `"${task}.providers" in AGENTS_FILE, or name the engine in LOCAL_AUDIO_PROVIDERS if its server runs on this machine.`;

/** The audio chains of one worker: its engine instances and their circuit breakers. */
export function createAudioChains(settings: AudioChainSettings, log: Logger): AudioChains {
  const instances = new Map<AudioProviderName, AudioProvider>();
  // Their own breakers, apart from chat's: the `openai` audio server need not be the chat one.
  const breakers = createBreakers(settings.breakers, log.child({ chain: 'audio' }), settings.clock);
  const breakerOf = (name: AudioProviderName) => breakers(`${name} (audio)`);
  const local = new Set(settings.localProviders);
  const provider = (name: AudioProviderName) => {
    let instance = instances.get(name);
    if (!instance) instances.set(name, (instance = settings.createProvider(name)));
    return instance;
  };
  const linksOf = (agent: Agent): readonly AudioProviderRef[] =>
    agent.speech?.providers ?? [
      { provider: settings.defaultProvider, model: settings.defaultProvider === 'espeak-ng' ? 'espeak-ng' : 'tts-1' },
    ];
  const runOf = (
    agent: Agent,
    links: readonly AudioProviderRef[] = linksOf(agent),
    task: AudioTask = 'speech',
  ): ChainRun<AudioProviderName, AudioProvider> => ({
    links,
    isLocal: (name) => local.has(name),
    breakerOf,
    provider,
    noLocal: (reasons) =>
      new AgentbusError(
        'no_local_provider',
        `No audio engine of agent "${agent.name}" may take this private request. ${reasons.join('; ')}.` +
          privacyHint(task),
      ),
    noneLeft: (reasons, privacySkipped, retryAfterMs) =>
      new AgentbusError(
        'no_provider_available',
        `No audio engine of agent "${agent.name}" can take the request now. ${reasons.join('; ')}.` +
          (privacySkipped ? privacyHint(task) : ''),
        { retryAfterMs },
      ),
  });

  async function speak(agent: Agent, request: SpeakChainRequest, reqLog: Logger): Promise<OpenedSpeech> {
    const { private: isPrivate, signal, ...fields } = request;
    const { value, link, fallback } = await firstAnswer(
      runOf(agent),
      isPrivate,
      signal,
      reqLog,
      async (chosen, link, isLocal) => {
        if (!chosen.speak)
          throw new AgentbusError('invalid_request', `The ${chosen.name} audio engine does not speak.`, {
            param: 'model',
          });
        const input = isLocal ? fields.input : settings.redactor.redact(fields.input);
        const spoken = await chosen.speak({ ...fields, input, model: link.model, signal, log: reqLog });
        // Up to the first bytes under the breaker: a server that fails before them moves the request on.
        const rest = spoken.audio[Symbol.asyncIterator]();
        const first = await rest.next();
        if (first.done)
          throw new AgentbusError('backend_error', `${chosen.name} at ${chosen.endpoint} ended before any audio`);
        return { spoken, first: first.value, rest };
      },
    );
    return {
      provider: link.provider,
      model: link.model,
      voice: value.spoken.voice,
      contentType: value.spoken.contentType,
      audio: replayFirst(value.first, value.rest),
      fallback,
    };
  }

  function refusedAll(links: readonly AudioProviderRef[]): string | undefined {
    const refusals = links.map((link) => {
      const refusal = breakerOf(link.provider).refusal();
      return refusal === undefined ? undefined : `${link.provider}: ${refusal}`;
    });
    return refusals.every((refusal) => refusal !== undefined) ? refusals.join('; ') : undefined;
  }

  const transcription = transcriptionChain({
    linksOf: (agent) =>
      agent.transcription?.providers ?? [
        {
          provider: settings.defaultTranscriptionProvider,
          model:
            settings.defaultTranscriptionProvider === 'pocketsphinx' ? 'pocketsphinx' : DEFAULT_TRANSCRIPTION_MODEL,
        },
      ],
    isLocal: (name) => local.has(name),
    breakerOf,
    provider,
    runOf: (agent, links) => runOf(agent, links, 'transcription'),
  });

  return {
    linksOf,
    speak,
    unavailable: (agent) => refusedAll(linksOf(agent)),
    transcriptionUnavailable: (agent) => refusedAll(transcription.transcriptionLinksOf(agent)),
    ...transcription,
  };
}
