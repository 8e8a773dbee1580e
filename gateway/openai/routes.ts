import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ChatDeps } from '../chat/types.js';
import { admitBeforeBody } from '../http/admit-before-body.js';
import { clientLeaving } from '../http/call-origin.js';
import { startHttpChat, type HttpChat } from '../http/chat-request.js';
import { replyWithAnswer } from '../http/reply-with-answer.js';
import { answerVoice } from '../speech/answer-voice.js';
import { emptyAudio } from '../speech/empty-audio.js';
import { speakAnswer, type AnswerToSpeak } from '../speech/speak-answer.js';
import { collectSpeech } from '../speech/collect-speech.js';
import { hintsFromHeaders } from '../http/request-hints.js';
import { relayAsAudioSse } from './audio-sse-relay.js';
import { AUDIO_EXPIRES_AFTER_S, speechOfAnswer, withAudio } from './chat-audio.js';
import { withSpokenTranscripts } from './chat-audio-history.js';
import { audioOutputOf } from './chat-audio-request.js';
import {
  chatCompletionRequestSchema,
  perAgentChatRequestSchema,
  type ChatBody,
} from './chat-completion-request.schema.js';
import { otherApiConversationFirst, RESPONSES_FIELDS_ON_CHAT } from './other-api-fields.js';
import { chatCompletion } from './responses.js';
import { relayAsSse } from './sse-relay.js';
import { toChatInput } from './to-chat-input.js';

type Spoken = Omit<AnswerToSpeak, 'text'>;

/** The relay options both SSE forms share. */
function sseOptions(chat: HttpChat, body: ChatBody) {
  return {
    ...chat.streamOptions(),
    identity: chat.identity,
    includeUsage: body.stream_options?.include_usage === true,
  };
}

/** Speaks a whole answer's text with `spoken`'s voice; aborted when the client leaves. */
function speaker(deps: ChatDeps, request: FastifyRequest, reply: FastifyReply, chat: HttpChat, spoken: Spoken) {
  const left = clientLeaving(reply, () => undefined);
  reply.header('x-agentbus-voice-agent', spoken.voiceAgent.name);
  return (text: string) =>
    speakAnswer(
      deps,
      { ...spoken, text },
      {
        caller: request.caller,
        log: chat.log,
        traceparent: chat.headers['traceparent'],
        hints: hintsFromHeaders(request.headers),
      },
      left,
    );
}

/**
 * A chat request from an OpenAI body, spoken or not: audio ids in the history become their
 * transcripts, a request for audio is checked (a voice agent it may call) before any model is
 * asked, then the chat starts and, if its answer is to be spoken (chat-audio.ts), it is.
 */
async function chatRoute(
  deps: ChatDeps,
  request: FastifyRequest<{ Body: ChatBody }>,
  reply: FastifyReply,
  stream: boolean,
  refusalsApart: boolean,
) {
  const { body } = request;
  const output = audioOutputOf(body);
  if (output.kind === 'audio') answerVoice(deps.catalog, request.caller);
  const messages = await withSpokenTranscripts(deps, request.caller.tenant, body.messages);
  // Handled here (audioOutputOf): the rest of the pipeline refuses them, as other faces do.
  const { audio: _audio, modalities: _modalities, ...text } = body;
  const input = toChatInput({ ...text, messages }, stream, deps.config.inputLimits);
  // A spoken answer says a refusal as it says any text; a written one has `refusal` for it.
  if (refusalsApart && output.kind !== 'audio') input.refusal_deltas = true;
  // Audio asked for: its speech request is counted with the chat's, before any model is asked.
  const chat = await startHttpChat(deps, request, reply, input, { laterCalls: output.kind === 'audio' ? 1 : 0 });
  let spoken: Spoken | undefined;
  try {
    spoken = speechOfAnswer(deps, request.caller, chat, input, output);
  } catch (err) {
    chat.call.close('the answer cannot be spoken');
    throw err;
  }
  if (!spoken) {
    if (stream) return relayAsSse(reply, chat.call, sseOptions(chat, body));
    return replyWithAnswer(reply, chat, (answer) => chatCompletion(chat.identity, answer));
  }
  const speak = speaker(deps, request, reply, chat, spoken);
  // The audio of an empty answer (a header at most): made here, as the speech route refuses empty input.
  const { format } = spoken;
  const silence = () => emptyAudio(format);
  if (stream) return relayAsAudioSse(reply, chat.call, sseOptions(chat, body), speak, silence);
  return replyWithAnswer(reply, chat, async (answer) => {
    const completion = chatCompletion(chat.identity, answer);
    const expiresAt = () => Math.floor(Date.now() / 1000) + AUDIO_EXPIRES_AFTER_S;
    if (answer.content === '') {
      // Only tool calls: nothing to say. An empty answer is still spoken, as a file of no sound.
      if (answer.toolCalls.length > 0) return completion;
      return withAudio(completion, silence(), expiresAt());
    }
    const speech = await speak(answer.content);
    let audio: Buffer;
    try {
      audio = await collectSpeech(speech);
    } catch (err) {
      await speech.finish({ bytes: 0, error: err });
      throw err;
    }
    await speech.finish({ bytes: audio.length });
    return withAudio(completion, audio, expiresAt());
  });
}

/**
 * `POST /v1/chat/completions` (JSON or SSE, as `stream` says) and `POST /v1/chat/stream`
 * (always SSE, for the clients of the agents agentbus replaces). Registered at the root, where
 * the body's `model` names the agent, and under `/agents/:agent`, where the path does.
 */
export async function chatCompletionsRoutes(app: FastifyInstance, deps: ChatDeps & { perAgent: boolean }) {
  const schema = { body: deps.perAgent ? perAgentChatRequestSchema : chatCompletionRequestSchema };
  // Rate limits first, before the body is read (admit-before-body.ts).
  app.addHook('preParsing', admitBeforeBody(deps));

  const preValidation = otherApiConversationFirst('messages', RESPONSES_FIELDS_ON_CHAT);

  app.post<{ Body: ChatBody }>('/v1/chat/completions', { schema, preValidation }, (request, reply) =>
    chatRoute(deps, request, reply, request.body.stream === true, true),
  );

  // Its clients read only `delta.content`: a refusal reaches them as the answer's text.
  app.post<{ Body: ChatBody }>('/v1/chat/stream', { schema, preValidation }, (request, reply) =>
    chatRoute(deps, request, reply, true, false),
  );
}
