import type { FastifyReply } from 'fastify';
import type { Call } from '../call/call.js';
import { relayStream, type StreamRelayOptions } from '../http/stream-relay.js';
import { chatCompletionChunk, responseMeta, usageChunk, type CompletionIdentity } from './responses.js';

export interface SseRelayOptions extends StreamRelayOptions {
  identity: CompletionIdentity;
  includeUsage: boolean;
}

const data = (value: unknown) => `data: ${JSON.stringify(value)}\n\n`;

/**
 * Relays reply frames as OpenAI `chat.completion.chunk` server-sent events: a role chunk first,
 * keep-alive comments for heartbeats, `[DONE]` after a complete answer, and `event: error`
 * (with no `[DONE]`) after a failure.
 */
export function relayAsSse(reply: FastifyReply, call: Call, options: SseRelayOptions): Promise<void> {
  const { identity, includeUsage } = options;
  const extra = includeUsage ? { usage: null } : {};
  return relayStream(reply, call, options, {
    contentType: 'text/event-stream; charset=utf-8',
    headers: { connection: 'keep-alive' },
    opening: ({ conversationId }) =>
      data(
        chatCompletionChunk(identity, conversationId, { role: 'assistant', content: '', refusal: null }, null, extra),
      ),
    keepAlive: ': keep-alive\n\n',
    // OpenAI sends text and tool-call fragments in separate chunks; a frame with both stays in order.
    delta: (frame, { conversationId }) =>
      (frame.content !== undefined
        ? data(chatCompletionChunk(identity, conversationId, { content: frame.content }, null, extra))
        : '') +
      (frame.tool_calls
        ? data(chatCompletionChunk(identity, conversationId, { tool_calls: frame.tool_calls }, null, extra))
        : ''),
    done: (frame, { conversationId }) =>
      data(
        chatCompletionChunk(identity, conversationId, {}, frame.finish_reason, { ...extra, meta: responseMeta(frame) }),
      ) +
      (includeUsage ? data(usageChunk(identity, conversationId, frame)) : '') +
      'data: [DONE]\n\n',
    error: (error) => `event: error\n${data(error.toOpenAI())}`,
  });
}
