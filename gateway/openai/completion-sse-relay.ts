import type { FastifyReply } from 'fastify';
import { AgentbusError } from '../../bus-schemas/index.js';
import type { Call } from '../call/call.js';
import { relayStream } from '../http/stream-relay.js';
import { textCompletionChunk, textCompletionUsageChunk } from './completion-responses.js';
import { inCompletionTerms } from './completion-to-chat-input.js';
import { responseMeta } from './responses.js';
import type { SseRelayOptions } from './sse-relay.js';

const data = (value: unknown) => `data: ${JSON.stringify(value)}\n\n`;

/**
 * Relays reply frames as OpenAI `text_completion` server-sent events: one chunk per text
 * fragment, a final chunk with `finish_reason` (and `meta`), the usage chunk when asked, then
 * `[DONE]`; a failure ends with `event: error` and no `[DONE]`, as on the chat route.
 */
export function relayCompletionAsSse(reply: FastifyReply, call: Call, options: SseRelayOptions): Promise<void> {
  const { identity, includeUsage } = options;
  const extra = includeUsage ? { usage: null } : {};
  return relayStream(reply, call, options, {
    contentType: 'text/event-stream; charset=utf-8',
    keepAlive: ': keep-alive\n\n',
    delta: (frame, { conversationId }) =>
      frame.content ? data(textCompletionChunk(identity, conversationId, frame.content, null, extra)) : '',
    done: (frame, { conversationId }) =>
      data(
        textCompletionChunk(identity, conversationId, '', frame.finish_reason, { ...extra, meta: responseMeta(frame) }),
      ) +
      (includeUsage ? data(textCompletionUsageChunk(identity, conversationId, frame)) : '') +
      'data: [DONE]\n\n',
    error: (error) => `event: error\n${data(AgentbusError.from(inCompletionTerms(error)).toOpenAI())}`,
  });
}
