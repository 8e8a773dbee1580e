import type { FastifyReply } from 'fastify';
import type { Call } from '../call/call.js';
import type { SpeechResult } from '../speech/start-speech.js';
import { inWholeBase64Pieces } from '../speech/whole-base64-pieces.js';
import { relayStream } from '../http/stream-relay.js';
import { AUDIO_EXPIRES_AFTER_S, audioIdOf } from './chat-audio.js';
import { chatCompletionChunk, responseMeta, usageChunk } from './responses.js';
import type { SseRelayOptions } from './sse-relay.js';

const data = (value: unknown) => `data: ${JSON.stringify(value)}\n\n`;

/**
 * Relays a spoken chat answer as OpenAI streams audio output: the text as `delta.audio.transcript`
 * pieces while the model writes (the first with the role and the audio `id`), then, once the
 * answer is whole, its speech as `delta.audio.data` chunks (base64, in order; concatenated they
 * are one file of the asked format), a chunk with `delta.audio.expires_at`, the finish chunk and
 * `[DONE]`. `speak` starts the speech of the whole text; a failure there ends the stream with
 * `event: error` and no `[DONE]`, and the turn is not stored. An empty answer (no text, no tool
 * call) is made by `silence`, with an empty transcript: nothing to speak, but an audio all the same.
 */
export function relayAsAudioSse(
  reply: FastifyReply,
  call: Call,
  options: SseRelayOptions,
  speak: (text: string) => Promise<SpeechResult>,
  silence: () => Buffer,
): Promise<void> {
  const { identity, includeUsage } = options;
  const extra = includeUsage ? { usage: null } : {};
  const id = audioIdOf(identity.id);
  let opened = false;
  let transcript = '';
  let called = false;
  const chunk = (conversationId: string, delta: Parameters<typeof chatCompletionChunk>[2]) =>
    data(chatCompletionChunk(identity, conversationId, delta, null, extra));
  /** The role (with content null, as OpenAI sends it for audio) on the first chunk only. */
  const opening = () => {
    if (opened) return {};
    opened = true;
    return { role: 'assistant' as const, content: null, refusal: null };
  };
  return relayStream(reply, call, options, {
    contentType: 'text/event-stream; charset=utf-8',
    keepAlive: ': keep-alive\n\n',
    delta: (frame, { conversationId }) => {
      let out = '';
      if (frame.reasoning) out += chunk(conversationId, { ...opening(), reasoning_content: frame.reasoning });
      if (frame.content) {
        const first = transcript === '';
        transcript += frame.content;
        out += chunk(conversationId, { ...opening(), audio: { ...(first ? { id } : {}), transcript: frame.content } });
      }
      if (frame.tool_calls) {
        called = true;
        out += chunk(conversationId, { ...opening(), tool_calls: frame.tool_calls });
      }
      return out;
    },
    beforeDone: async (_frame, { conversationId }, write) => {
      const expiring = () => ({ audio: { id, expires_at: Math.floor(Date.now() / 1000) + AUDIO_EXPIRES_AFTER_S } });
      if (transcript === '') {
        // Only tool calls: nothing to say.
        if (called) return;
        await write(chunk(conversationId, { ...opening(), audio: { id, transcript: '' } }));
        await write(chunk(conversationId, { audio: { data: silence().toString('base64') } }));
        await write(chunk(conversationId, expiring()));
        return;
      }
      const speech = await speak(transcript);
      let bytes = 0;
      try {
        for await (const audio of inWholeBase64Pieces(speech.audio)) {
          bytes += audio.length;
          await write(chunk(conversationId, { audio: { data: audio.toString('base64') } }));
        }
      } catch (err) {
        await speech.finish({ bytes, error: err });
        throw err;
      }
      await speech.finish({ bytes });
      await write(chunk(conversationId, expiring()));
    },
    done: (frame, { conversationId }) =>
      (opened ? '' : chunk(conversationId, opening())) +
      data(
        chatCompletionChunk(identity, conversationId, {}, frame.finish_reason, { ...extra, meta: responseMeta(frame) }),
      ) +
      (includeUsage ? data(usageChunk(identity, conversationId, frame)) : '') +
      'data: [DONE]\n\n',
    error: (error) => `event: error\n${data(error.toOpenAI())}`,
  });
}
