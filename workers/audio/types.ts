import type { SpeechFormat } from '../../bus-schemas/index.js';
import type { AudioProviderName } from '../../common/agent-catalog.schema.js';
import type { Logger } from '../../common/logger.js';

/** What a worker asks of a speech engine: OpenAI's `/v1/audio/speech` fields. */
export interface SpeakRequest {
  /** The model on the engine's server (the chain link's); espeak-ng has none. */
  model: string;
  input: string;
  /** OpenAI's voice name (alloy, echo, …); each engine maps it, or refuses it with invalid_request. */
  voice: string;
  format: SpeechFormat;
  speed: number;
  /** Aborted by a cancel or the deadline: the engine must stop at once. */
  signal: AbortSignal;
  /** The request's logger. */
  log: Logger;
}

/** Speech under way: what it is, then its bytes as the engine makes them. */
export interface SpokenAudio {
  /** The engine's own voice, e.g. espeak-ng's `bn+f3`, or the OpenAI voice name passed on. */
  voice: string;
  contentType: string;
  audio: AsyncIterable<Buffer>;
}

/**
 * An audio engine in a provider chain. Implementations live in `audio/<name>/` and throw
 * `AgentbusError`s: retryable ones (backend_unreachable, backend_error, speech_engine_unavailable)
 * move a request on to the next engine; invalid_request and audio_format_unavailable do not.
 * Each method is optional: an engine that only speaks has no transcription, and a transcription
 * engine (pocketsphinx, `<prefix>.<agent>.transcribe`) joins with a `transcribe()` beside it.
 */
export interface AudioProvider {
  readonly name: AudioProviderName;
  /** Where the engine is, as the user configured it (a binary, or OPENAI_AUDIO_BASE_URL). */
  readonly endpoint: string;
  /** Text to speech; absent when the engine does not speak. */
  speak?(request: SpeakRequest): Promise<SpokenAudio>;
}
