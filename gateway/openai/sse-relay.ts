import type { FastifyReply } from 'fastify';
import type { DeltaFrame } from '../../bus-schemas/index.js';
import type { Call } from '../call/call.js';
import { relayStream, type StreamRelayOptions } from '../http/stream-relay.js';
import { chatCompletionChunk, responseMeta, usageChunk, type CompletionIdentity } from './responses.js';

export interface SseRelayOptions extends StreamRelayOptions {
  identity: CompletionIdentity;
  includeUsage: boolean;
}

const data = (value: unknown) => `data: ${JSON.stringify(value)}\n\n`;

/**
 * Relays reply frames as OpenAI `chat.completion.chunk` server-sent events: the role chunk with
 * the first output (`content: ""` before text, `content: null` with the first tool-call fragment or
 * with `refusal: ""` before a refusal, as OpenAI sends them), keep-alive comments for heartbeats,
 * `[DONE]` after a complete answer, and `event: error` (with no `[DONE]`) after a failure.
 */
export function relayAsSse(reply: FastifyReply, call: Call, options: SseRelayOptions): Promise<void> {
  const { identity, includeUsage } = options;
  const extra = includeUsage ? { usage: null } : {};
  let roleSent = false;
  const chunk = (conversationId: string, delta: Parameters<typeof chatCompletionChunk>[2]) =>
    data(chatCompletionChunk(identity, conversationId, delta, null, extra));
  /** The role chunk for a text answer, once, before its first output. */
  const textRole = (conversationId: string) => {
    if (roleSent) return '';
    roleSent = true;
    return chunk(conversationId, { role: 'assistant', content: '', refusal: null });
  };
  /** The thinking, before the answer; it opens the stream when it comes first (content null so far). */
  const reasoning = (conversationId: string, text: string) => {
    if (roleSent) return chunk(conversationId, { reasoning_content: text });
    roleSent = true;
    return chunk(conversationId, { role: 'assistant', content: null, refusal: null, reasoning_content: text });
  };
  /** The model's refusal; it opens the stream when it comes first, as OpenAI's does (content null). */
  const refusal = (conversationId: string, text: string) => {
    const opening = roleSent ? '' : chunk(conversationId, { role: 'assistant', content: null, refusal: '' });
    roleSent = true;
    return opening + chunk(conversationId, { refusal: text });
  };
  const toolCalls = (conversationId: string, calls: NonNullable<DeltaFrame['tool_calls']>) => {
    if (roleSent) return chunk(conversationId, { tool_calls: calls });
    roleSent = true;
    return chunk(conversationId, { role: 'assistant', content: null, refusal: null, tool_calls: calls });
  };
  return relayStream(reply, call, options, {
    contentType: 'text/event-stream; charset=utf-8',
    keepAlive: ': keep-alive\n\n',
    // OpenAI sends text and tool-call fragments in separate chunks; a frame with both stays in order.
    delta: (frame, { conversationId }) =>
      (frame.reasoning ? reasoning(conversationId, frame.reasoning) : '') +
      (frame.content !== undefined
        ? textRole(conversationId) + chunk(conversationId, { content: frame.content })
        : '') +
      (frame.refusal !== undefined ? refusal(conversationId, frame.refusal) : '') +
      (frame.tool_calls ? toolCalls(conversationId, frame.tool_calls) : ''),
    done: (frame, { conversationId }) =>
      textRole(conversationId) +
      data(
        chatCompletionChunk(identity, conversationId, {}, frame.finish_reason, { ...extra, meta: responseMeta(frame) }),
      ) +
      (includeUsage ? data(usageChunk(identity, conversationId, frame)) : '') +
      'data: [DONE]\n\n',
    error: (error) => `event: error\n${data(error.toOpenAI())}`,
  });
}
