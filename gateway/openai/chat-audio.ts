import type { Agent } from '../../common/catalog.js';
import type { Caller } from '../auth/caller.js';
import type { ChatDeps, ChatInput, StartedChat } from '../chat/types.js';
import { answerVoice } from '../speech/answer-voice.js';
import { asksForSpeech } from '../speech/asks-for-speech.js';
import type { AnswerToSpeak } from '../speech/speak-answer.js';
import type { ChatAudio } from './chat-audio-request.js';
import type { chatCompletion } from './responses.js';

/** An audio id names the completion it was spoken for: a later request's `{id}` finds its transcript. */
export const AUDIO_ID_PREFIX = 'audio_';
/** OpenAI keeps a spoken answer for an hour; here `expires_at` is advisory (see docs/api.md). */
export const AUDIO_EXPIRES_AFTER_S = 3600;
/** How a voice agent asked for speech in words answers when the request names no voice or format. */
export const IMPLICIT_AUDIO: ChatAudio = Object.freeze({ voice: 'alloy', format: 'wav' });

export const audioIdOf = (completionId: string) => `${AUDIO_ID_PREFIX}${completionId}`;

/** The request's last user message, as text: what asks a voice agent for speech. */
function lastUserText(input: ChatInput): string {
  for (let i = input.messages.length - 1; i >= 0; i--) {
    const message = input.messages[i]!;
    if (message.role === 'user') return message.content;
  }
  return '';
}

/**
 * Whether a started chat's answer is spoken, and by whom: always when the request asked for audio
 * (`audio`); without `modalities`, when one voice agent answers and the last user message asks
 * for speech in words ({@link asksForSpeech}), with {@link IMPLICIT_AUDIO}. Undefined: text only.
 */
export function speechOfAnswer(
  deps: Pick<ChatDeps, 'catalog'>,
  caller: Caller,
  chat: Pick<StartedChat, 'identity' | 'private'>,
  input: ChatInput,
  output: { kind: 'audio'; audio: ChatAudio } | { kind: 'text' | 'unset' },
): Omit<AnswerToSpeak, 'text'> | undefined {
  const answering = chat.identity.model.split('+');
  let audio: ChatAudio;
  let voiceAgent: Agent;
  if (output.kind === 'audio') {
    audio = output.audio;
    voiceAgent = answerVoice(deps.catalog, caller, answering);
  } else {
    const agent = answering.length === 1 ? deps.catalog.get(answering[0]!) : undefined;
    if (output.kind === 'text' || !agent?.speech || !asksForSpeech(lastUserText(input))) return undefined;
    audio = IMPLICIT_AUDIO;
    voiceAgent = agent;
  }
  // Asked for in the request, its first speech was counted with the chat (routes.ts).
  const prepaid = output.kind === 'audio';
  const streamed = input.stream === true;
  return { voiceAgent, voice: audio.voice, format: audio.format, private: chat.private, prepaid, streamed };
}

type Completion = ReturnType<typeof chatCompletion>;

/**
 * A chat.completion whose answer was spoken, as OpenAI returns one: `content` null, the text as
 * `message.audio.transcript` beside the audio in base64.
 */
export function withAudio(completion: Completion, audio: Buffer, expiresAt: number) {
  const [choice] = completion.choices;
  const { content, ...message } = choice!.message;
  return {
    ...completion,
    choices: [
      {
        ...choice!,
        message: {
          ...message,
          content: null,
          audio: {
            id: audioIdOf(completion.id),
            data: audio.toString('base64'),
            expires_at: expiresAt,
            transcript: content ?? '',
          },
        },
      },
    ],
  };
}
