import type { FastifyReply } from 'fastify';
import type { Call } from '../call/call.js';
import { relayStream, type StreamRelayOptions } from '../http/stream-relay.js';
import { generateChunk, generateFinal } from './generate.js';

const line = (value: unknown) => `${JSON.stringify(value)}\n`;

/**
 * Relays reply frames as Ollama's streamed generate answer (one JSON object per line). Heartbeats
 * have no NDJSON form: the headers go out at the first one, which keeps proxies from timing out.
 * A failure is an Ollama-style `{"error": …}` line and no `done: true` line.
 */
export function relayAsNdjson(
  reply: FastifyReply,
  call: Call,
  options: StreamRelayOptions & { model: string },
): Promise<void> {
  return relayStream(reply, call, options, {
    contentType: 'application/x-ndjson; charset=utf-8',
    delta: (frame) => (frame.content ? line(generateChunk(options.model, frame.content)) : ''),
    done: (frame) => line(generateFinal(options.model, '', frame)),
    error: (error) => line({ error: error.message, code: error.code }),
  });
}
