import type { FastifyReply } from 'fastify';
import { AgentbusError, errorFromWire, type ReplyFrame } from '../../bus-schemas/index.js';
import type { AgentCall } from '../bus/agent-call.js';
import { createStreamWriter } from '../http/stream-writer.js';
import { chatCompletionChunk, responseMeta, usageChunk, type CompletionIdentity } from './responses.js';

export interface SseRelayOptions {
  identity: CompletionIdentity;
  /** The session id the request was sent with; the ack frame replaces it with the resolved one. */
  sessionId: string;
  includeUsage: boolean;
  /** A reader that accepts nothing for this long is dropped (and the answer cancelled). */
  stallTimeoutMs: number;
  /** Extra response headers (e.g. traceparent). */
  headers?: Record<string, string>;
}

const data = (value: unknown) => `data: ${JSON.stringify(value)}\n\n`;

/**
 * Relays reply frames as OpenAI `chat.completion.chunk` server-sent events. Headers are sent
 * only once the model produced something (or is slow enough to need keep-alives), so a request
 * that fails early still gets a plain HTTP error status. A failure after that ends the stream
 * with an `error` event and no `[DONE]`: a truncated answer must never look complete.
 */
export async function relayAsSse(reply: FastifyReply, call: AgentCall, options: SseRelayOptions): Promise<void> {
  const raw = reply.raw;
  const { identity, includeUsage } = options;
  let conversationId = options.sessionId;
  let cached = false;
  let started = false;
  const extra = includeUsage ? { usage: null } : {};
  const { write } = createStreamWriter(reply, call, options.stallTimeoutMs);

  const start = async () => {
    if (started) return;
    started = true;
    reply.hijack();
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      'x-session-id': conversationId,
      'x-request-id': identity.id,
      'x-cache': cached ? 'HIT' : 'MISS',
      ...options.headers,
    });
    await write(data(chatCompletionChunk(identity, conversationId, { role: 'assistant', content: '', refusal: null }, null, extra)));
  };

  const fail = async (error: AgentbusError) => {
    if (!started) throw error;
    reply.log.warn({ code: error.code }, `stream ended with an error: ${error.message}`);
    await write(`event: error\n${data(error.toOpenAI())}`);
    raw.end();
  };

  const handle = async (frame: ReplyFrame) => {
    switch (frame.type) {
      case 'ack':
        conversationId = frame.conversation_id;
        cached = frame.cached === true;
        return;
      case 'heartbeat':
        await start();
        return write(': keep-alive\n\n');
      case 'delta': {
        await start();
        // OpenAI sends text and tool-call fragments in separate chunks; a frame with both stays in order.
        if (frame.content !== undefined) await write(data(chatCompletionChunk(identity, conversationId, { content: frame.content }, null, extra)));
        if (frame.tool_calls) await write(data(chatCompletionChunk(identity, conversationId, { tool_calls: frame.tool_calls }, null, extra)));
        return;
      }
      case 'error':
        return fail(errorFromWire(frame.error));
      case 'done':
        await start();
        await write(data(chatCompletionChunk(identity, conversationId, {}, frame.finish_reason, { ...extra, meta: responseMeta(frame) })));
        if (includeUsage) await write(data(usageChunk(identity, conversationId, frame)));
        await write('data: [DONE]\n\n');
        raw.end();
    }
  };

  try {
    for await (const frame of call) await handle(frame);
  } catch (err) {
    await fail(err instanceof AgentbusError ? err : new AgentbusError('internal_error', (err as Error).message, { cause: err }));
  }
  if (call.closedByClient) reply.log.info('client left before the answer finished; the worker was told to cancel it');
  // The client left (call closed) before a terminal frame: nothing more to send.
  if (started && !raw.writableEnded) raw.end();
}
