import { AgentbusError, type FallbackStep, type TranscriptionFormat } from '../../bus-schemas/index.js';
import type { AudioProviderName } from '../../common/agent-catalog.schema.js';
import type { Agent, AudioProviderRef } from '../../common/catalog.js';
import type { Logger } from '../../common/logger.js';
import type { ProviderBreaker } from '../providers/breakers.js';
import { firstAnswer, type ChainRun } from '../providers/run-chain.js';
import type { AudioProvider, Transcript } from './types.js';

/** A transcription as the chain sees it before the audio comes. */
export interface TranscriptionChainRequest {
  format: TranscriptionFormat;
  language?: string | undefined;
  /** English text whatever was spoken (POST /v1/audio/translations). */
  translate?: boolean | undefined;
  /** Only local engines may hear it. */
  private: boolean;
}

/** What the chain heard, and which engine heard it. */
export interface Transcribed extends Transcript {
  provider: AudioProviderName;
  model: string;
  /** The steps away from the chain's first engine, in order (empty when it answered). */
  fallback: FallbackStep[];
}

/** A chain checked against one request, waiting for its audio. */
export interface PreparedTranscription {
  /** The engine expected to listen (the `ready` frame's); a fallback may change it. */
  provider: AudioProviderName;
  transcribe(audio: Buffer, signal: AbortSignal, log: Logger): Promise<Transcribed>;
}

export interface TranscriptionChain {
  /** The voice agent's chain: its catalog `transcription.providers`, else TRANSCRIPTION_PROVIDER. */
  transcriptionLinksOf(agent: Agent): readonly AudioProviderRef[];
  /**
   * Checks the chain before any audio travels: engines that refuse the request (not installed, a
   * language they do not know) are left out; when every engine the request may use refuses, the
   * first one's refusal is the answer, and a private request without a local engine is
   * `no_local_provider`. The rest run like chat's chain: fallback, breakers, the private rule.
   */
  prepareTranscription(agent: Agent, request: TranscriptionChainRequest): PreparedTranscription;
}

/** What the transcription chain shares with speech's (chains.ts): engines, breakers, locality. */
export interface TranscriptionChainParts {
  linksOf(agent: Agent): readonly AudioProviderRef[];
  isLocal(name: AudioProviderName): boolean;
  breakerOf(name: AudioProviderName): ProviderBreaker;
  provider(name: AudioProviderName): AudioProvider;
  runOf(agent: Agent, links: readonly AudioProviderRef[]): ChainRun<AudioProviderName, AudioProvider>;
}

export function transcriptionChain(parts: TranscriptionChainParts): TranscriptionChain {
  function prepareTranscription(agent: Agent, request: TranscriptionChainRequest): PreparedTranscription {
    const links = parts.linksOf(agent);
    const allowed = links.filter((link) => !request.private || parts.isLocal(link.provider));
    if (allowed.length === 0)
      throw parts
        .runOf(agent, links)
        .noLocal(links.map((link) => `${link.provider}: not local and the request is private`));
    const refusals = new Map<AudioProviderRef, AgentbusError>();
    for (const link of allowed) {
      const engine = parts.provider(link.provider);
      const refusal = engine.transcribe
        ? engine.refuseTranscription?.(request)
        : new AgentbusError('invalid_request', `The ${link.provider} audio engine does not transcribe.`, {
            param: 'model',
          });
      if (refusal) refusals.set(link, refusal);
    }
    if (refusals.size === allowed.length) throw refusals.get(allowed[0]!)!;
    const usable = links.filter((link) => !refusals.has(link));
    const candidates = usable.filter((link) => allowed.includes(link));
    const expected = candidates.find((link) => !parts.breakerOf(link.provider).refusal()) ?? candidates[0]!;

    async function transcribe(audio: Buffer, signal: AbortSignal, log: Logger): Promise<Transcribed> {
      const { value, link, fallback } = await firstAnswer(
        parts.runOf(agent, usable),
        request.private,
        signal,
        log,
        (chosen, link) =>
          chosen.transcribe!({
            model: link.model,
            audio,
            format: request.format,
            language: request.language,
            translate: request.translate,
            signal,
            log,
          }),
      );
      return { ...value, provider: link.provider, model: link.model, fallback };
    }

    return { provider: expected.provider, transcribe };
  }

  return { transcriptionLinksOf: (agent) => parts.linksOf(agent), prepareTranscription };
}
