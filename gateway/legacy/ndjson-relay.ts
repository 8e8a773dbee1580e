import type { FastifyReply } from 'fastify';
import { AgentbusError } from '../../bus-schemas/index.js';
import { inPromptTerms, type PromptTerms } from '../openai/completion-to-chat-input.js';
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
  options: StreamRelayOptions & { model: string; terms: PromptTerms },
): Promise<void> {
  return relayStream(reply, call, options, {
    contentType: 'application/x-ndjson; charset=utf-8',
    delta: (frame) =>
      (frame.reasoning ? line(generateChunk(options.model, '', frame.reasoning)) : '') +
      (frame.content ? line(generateChunk(options.model, frame.content)) : ''),
    done: (frame) => line(generateFinal(options.model, '', frame)),
    error: (error) => {
      // In the client's terms, as an error before the stream started is (routes.ts).
      const said = AgentbusError.from(inPromptTerms(error, options.terms));
      return line({ error: said.message, code: said.code });
    },
  });
}
