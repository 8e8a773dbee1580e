import type { FastifyReply } from 'fastify';
import { AgentbusError, errorFromWire, type ReplyFrame } from '../../bus-schemas/index.js';
import type { AgentCall } from '../bus/agent-call.js';
import { chatCompletionChunk, responseMeta, usageChunk, type CompletionIdentity } from './responses.js';

export interface SseRelayOptions {
  identity: CompletionIdentity;
  /** The session id the request was sent with; the ack frame replaces it with the resolved one. */
  sessionId: string;
  includeUsage: boolean;
  /** A reader that accepts nothing for this long is dropped (and the answer cancelled). */
  stallTimeoutMs: number;
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
  let started = false;
  const extra = includeUsage ? { usage: null } : {};
  // One listener for the whole response: the client leaving cancels the answer. Plain
  // listeners rather than events.once(), which would reject on an 'error' event.
  const closed = new Promise<void>((resolve) => raw.once('close', () => {
    call.close('client closed the stream');
    resolve();
  }));

  // Waits for the socket to drain, so a slow reader never makes us buffer without bound; a
  // reader stalled past the limit is disconnected.
  const write = async (text: string) => {
    if (raw.destroyed || raw.writableEnded) return;
    if (raw.write(text)) return;
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<'stalled'>((resolve) => { timer = setTimeout(() => resolve('stalled'), options.stallTimeoutMs); });
    const drained = new Promise<void>((resolve) => raw.once('drain', resolve));
    const outcome = await Promise.race([drained, closed, stalled]);
    clearTimeout(timer);
    if (outcome === 'stalled') {
      reply.log.warn(`client read nothing for ${options.stallTimeoutMs} ms; dropping the stream`);
      raw.destroy();
    }
  };

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
        return;
      case 'heartbeat':
        await start();
        return write(': keep-alive\n\n');
      case 'delta':
        await start();
        return write(data(chatCompletionChunk(identity, conversationId, { content: frame.content }, null, extra)));
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
