import type { FastifyReply } from 'fastify';
import { AgentbusError, errorFromWire, type ReplyFrame } from '../../bus-schemas/index.js';
import type { AgentCall } from '../bus/agent-call.js';
import { createStreamWriter } from '../http/stream-writer.js';
import { generateChunk, generateFinal } from './generate.js';

const line = (value: unknown) => `${JSON.stringify(value)}\n`;

/**
 * Relays reply frames as Ollama's streamed generate answer (one JSON object per line). As with
 * SSE, headers wait for the first sign of life so an early failure is a plain HTTP error; a
 * failure after that is an Ollama-style `{"error": …}` line and no `done: true` line.
 */
export async function relayAsNdjson(reply: FastifyReply, call: AgentCall, options: { model: string; sessionId: string; headers: Record<string, string>; stallTimeoutMs: number }): Promise<void> {
  const raw = reply.raw;
  const { write } = createStreamWriter(reply, call, options.stallTimeoutMs);
  let conversationId = options.sessionId;
  let cached = false;
  let started = false;

  const start = () => {
    if (started) return;
    started = true;
    reply.hijack();
    raw.writeHead(200, {
      'content-type': 'application/x-ndjson; charset=utf-8',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
      'x-session-id': conversationId,
      'x-cache': cached ? 'HIT' : 'MISS',
      ...options.headers,
    });
    // Heartbeats have no NDJSON form; sending the headers at once keeps proxies from timing out.
    raw.flushHeaders();
  };

  const fail = async (error: AgentbusError) => {
    if (!started) throw error;
    reply.log.warn({ code: error.code }, `stream ended with an error: ${error.message}`);
    await write(line({ error: error.message, code: error.code }));
    raw.end();
  };

  const handle = async (frame: ReplyFrame) => {
    switch (frame.type) {
      case 'ack':
        conversationId = frame.conversation_id;
        cached = frame.cached === true;
        return;
      case 'heartbeat':
        return start();
      case 'delta':
        start();
        if (frame.content) await write(line(generateChunk(options.model, frame.content)));
        return;
      case 'error':
        return fail(errorFromWire(frame.error));
      case 'done':
        start();
        await write(line(generateFinal(options.model, '', { toolCalls: [], done: frame })));
        raw.end();
    }
  };

  try {
    for await (const frame of call) await handle(frame);
  } catch (err) {
    await fail(err instanceof AgentbusError ? err : new AgentbusError('internal_error', (err as Error).message, { cause: err }));
  }
  if (started && !raw.writableEnded) raw.end();
}
