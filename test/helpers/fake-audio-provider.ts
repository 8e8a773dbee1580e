import { AgentbusError, type ErrorCode } from '../../bus-schemas/index.js';
import type { AudioProviderName } from '../../common/agent-catalog.schema.js';
import type { Agent, AudioProviderRef } from '../../common/catalog.js';
import type {
  AudioProvider,
  SpeakRequest,
  SpokenAudio,
  TranscribeRequest,
  Transcript,
} from '../../workers/audio/types.js';
import { agentWith } from './fake-provider.js';

/** How a fake engine answers one call. */
export type SpeakBehaviour = (request: SpeakRequest) => Promise<SpokenAudio>;
/** How a fake engine answers one transcription. */
export type HearBehaviour = (request: TranscribeRequest) => Promise<Transcript>;

/** An audio engine behind our own `AudioProvider` seam, scripted by the test; it records every call. */
export class FakeAudioProvider implements AudioProvider {
  readonly calls: SpeakRequest[] = [];
  behave: SpeakBehaviour = speaks('RIFF', 'data');
  /** Streams closed before their end (the consumer stopped). */
  stopped = 0;
  readonly transcriptions: TranscribeRequest[] = [];
  hear: HearBehaviour = hears('hello');
  /** What `refuseTranscription` answers before the audio comes (not installed, a language). */
  refusal: AgentbusError | undefined;

  constructor(
    readonly name: AudioProviderName,
    readonly endpoint = `http://${name}.test`,
  ) {}

  refuseTranscription(): AgentbusError | undefined {
    return this.refusal;
  }

  async transcribe(request: TranscribeRequest): Promise<Transcript> {
    this.transcriptions.push(request);
    return this.hear(request);
  }

  async speak(request: SpeakRequest): Promise<SpokenAudio> {
    this.calls.push(request);
    const spoken = await this.behave(request);
    const onStopped = () => this.stopped++;
    return {
      ...spoken,
      audio: (async function* () {
        let ended = false;
        try {
          yield* spoken.audio;
          ended = true;
        } finally {
          if (!ended) onStopped();
        }
      })(),
    };
  }
}

/** Says these chunks (as bytes), with the voice passed through. */
export function speaks(...chunks: string[]): SpeakBehaviour {
  return (request) =>
    Promise.resolve({
      voice: request.voice,
      contentType: 'audio/wav',
      audio: (async function* () {
        for (const chunk of chunks) yield Buffer.from(chunk);
      })(),
    });
}

/** Hears `text`, in the language asked (`en` otherwise). */
export function hears(text: string): HearBehaviour {
  return (request) =>
    Promise.resolve({
      text,
      language: request.language ?? 'en',
      duration: 1,
      segments: [{ start: 0, end: 1, text }],
      words: [],
    });
}

/** Fails with `code` before any transcript. */
export function hearFails(code: ErrorCode, message = `fake ${code}`): HearBehaviour {
  return () => Promise.reject(new AgentbusError(code, message));
}

/** Fails before any byte with `code` (a retryable one says the engine is unwell). */
export function speakFails(code: ErrorCode, message = `fake ${code}`): SpeakBehaviour {
  return () => Promise.reject(new AgentbusError(code, message));
}

/** Says `chunks`, then fails: past the first byte, nothing may switch engines. */
export function speakFailsAfter(chunks: string[], code: ErrorCode): SpeakBehaviour {
  return (request) =>
    Promise.resolve({
      voice: request.voice,
      contentType: 'audio/wav',
      audio: (async function* () {
        for (const chunk of chunks) yield Buffer.from(chunk);
        throw new AgentbusError(code, `fake ${code} mid-audio`);
      })(),
    });
}

/** A voice agent as the catalog makes it; `providers` undefined means the worker's SPEECH_PROVIDER. */
export function voiceAgentWith(name: string, providers?: AudioProviderRef[]): Agent {
  return { ...agentWith(name), speech: { aliases: [], providers } };
}

/** A listening agent as the catalog makes it; `providers` undefined means TRANSCRIPTION_PROVIDER. */
export function listeningAgentWith(name: string, providers?: AudioProviderRef[]): Agent {
  return { ...agentWith(name), transcription: { aliases: [], providers } };
}
