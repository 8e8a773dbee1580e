import { AgentbusError, SPEECH_MAX_INPUT_CHARS, type SpeechFormat } from '../../bus-schemas/index.js';
import type { Agent } from '../../common/catalog.js';
import { PREPAID_ADMISSION } from '../chat/admit.js';
import type { ChatDeps, ChatOrigin } from '../chat/types.js';
import type { Admission } from '../rate-limit/rate-limiter.js';
import { JOINABLE_FORMATS, joinedSpeech, speechPieces } from './speech-pieces.js';
import { startSpeech, type SpeechResult } from './start-speech.js';

/** A chat answer to speak: its text, who says it, and how. */
export interface AnswerToSpeak {
  text: string;
  voiceAgent: Agent;
  voice: string;
  format: SpeechFormat;
  /** The chat was private (a hint, the key, or a secret in it): so is its speech. */
  private: boolean;
  /** The first speech request was counted with the chat's own (`laterCalls`, chat/admit.ts). */
  prepaid?: boolean;
  /** The chat streams: its audio goes out as it is made. */
  streamed: boolean;
}

/** The speech route's parameter names, as a chat request names them (`audio.format`, `audio.voice`). */
const CHAT_PARAMS: Readonly<Record<string, string>> = { response_format: 'audio.format', voice: 'audio.voice' };

/** A speech error in the chat request's terms: the same error, naming the chat's key. */
export function inChatTerms(err: unknown): unknown {
  if (!(err instanceof AgentbusError) || err.param === null || !(err.param in CHAT_PARAMS)) return err;
  return err.restated({ param: CHAT_PARAMS[err.param]! });
}

/**
 * Starts the speech of a finished chat answer: one speech request over the bus to the voice
 * agent (`<prefix>.<agent>.speech`), with the key's rate limits and audit like any other, in the
 * chat's trace (`traceparent`). An answer longer than one speech request may carry is said in
 * pieces, one request each, joined into one file (wav, mp3, aac, pcm; flac and opus do not join:
 * `audio_output_too_long`). A worker's refusal (no encoder for the format) names the chat's key,
 * `audio.format`.
 */
export async function speakAnswer(
  deps: ChatDeps,
  answer: AnswerToSpeak,
  origin: Pick<ChatOrigin, 'caller' | 'log' | 'traceparent' | 'hints'>,
  signal: AbortSignal,
): Promise<SpeechResult> {
  const pieces = speechPieces(answer.text);
  if (pieces.length > 1 && !JOINABLE_FORMATS.has(answer.format))
    throw new AgentbusError(
      'audio_output_too_long',
      `The answer has ${answer.text.length} characters; in ${answer.format} a spoken answer may have at most ` +
        `${SPEECH_MAX_INPUT_CHARS} (wav, mp3, aac and pcm16 take longer ones). Ask for a shorter answer ` +
        '(max_completion_tokens) or another format.',
      { param: 'audio.format' },
    );
  const start = (input: string, admission?: Admission) =>
    startSpeech(
      deps,
      {
        model: answer.voiceAgent.name,
        input,
        voice: answer.voice,
        format: answer.format,
        speed: 1,
        streamed: answer.streamed,
      },
      {
        ...origin,
        hints: { ...origin.hints, private: origin.hints.private || answer.private },
        pathAgent: undefined,
        admission,
      },
      signal,
    ).catch((err: unknown) => {
      throw inChatTerms(err);
    });
  const first = await start(pieces[0]!, answer.prepaid ? PREPAID_ADMISSION : undefined);
  return pieces.length === 1 ? first : joinedSpeech(first, pieces.slice(1), start);
}
