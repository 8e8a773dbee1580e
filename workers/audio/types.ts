import type { AgentbusError, SpeechFormat, TranscriptionFormat } from '../../bus-schemas/index.js';
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

/** What a worker asks of a transcription engine: one whole upload. */
export interface TranscribeRequest {
  /** The model on the engine's server (the chain link's); pocketsphinx has none. */
  model: string;
  audio: Buffer;
  format: TranscriptionFormat;
  /** ISO-639-1, when the client named it. */
  language?: string | undefined;
  /**
   * English text whatever was spoken (POST /v1/audio/translations). pocketsphinx hears English
   * only, so its transcript is that already; a Whisper server is asked for its translation.
   */
  translate?: boolean | undefined;
  /** Aborted by a cancel or the deadline: the engine must stop at once. */
  signal: AbortSignal;
  log: Logger;
}

/** What an engine heard: our `done` frame's fields (times in seconds). */
export interface Transcript {
  text: string;
  language: string;
  duration: number;
  segments: Array<{ start: number; end: number; text: string }>;
  words: Array<{ word: string; start: number; end: number }>;
}

/**
 * An audio engine in a provider chain. Implementations live in `audio/<name>/` and throw
 * `AgentbusError`s: retryable ones (backend_unreachable, backend_error, speech_engine_unavailable)
 * move a request on to the next engine; invalid_request and audio_format_unavailable do not.
 * Each method is optional: espeak-ng only speaks, pocketsphinx only listens, openai does both.
 */
export interface AudioProvider {
  readonly name: AudioProviderName;
  /** Where the engine is, as the user configured it (a binary, or OPENAI_AUDIO_BASE_URL). */
  readonly endpoint: string;
  /** Text to speech; absent when the engine does not speak. */
  speak?(request: SpeakRequest): Promise<SpokenAudio>;
  /**
   * Why this engine cannot hear such an upload (not installed, a language it does not know), or
   * undefined; asked before any audio travels, so the chain leaves it out at once.
   */
  refuseTranscription?(request: {
    format: TranscriptionFormat;
    language?: string | undefined;
  }): AgentbusError | undefined;
  /** Speech to text; absent when the engine does not listen. */
  transcribe?(request: TranscribeRequest): Promise<Transcript>;
}
