import { randomUUID } from 'node:crypto';
import type { Bus } from '../../common/bus.js';
import { exchangeEnvelope } from '../../scripts/lib/bus-exchange.js';
import {
  encodeJson,
  PROTOCOL_VERSION,
  subjectsFor,
  type ChatMessage,
  type ChatRequest,
  type ReplyFrame,
} from '../../bus-schemas/index.js';
import { tenantOf } from '../../gateway/auth/bearer-auth.js';

/** A valid envelope for `intent` from the dev key, as the gateway would publish it; `extra` overrides. */
export function envelopeFor(intent: string, messages: ChatMessage[], extra: Partial<ChatRequest> = {}): ChatRequest {
  const id = `chatcmpl-${randomUUID()}`;
  return {
    v: PROTOCOL_VERSION,
    request_id: id,
    session_id: id,
    create_session: true,
    intent,
    model: intent,
    messages,
    options: {},
    stream: true,
    timeout_ms: 10_000,
    heartbeat_ms: 200,
    tenant: tenantOf('local-only'),
    created_at: Date.now(),
    ...extra,
  };
}

/**
 * Publishes `envelope` straight on the bus, bypassing the gateway (for envelope fields no
 * HTTP header sets yet), and returns every reply frame up to the terminal one.
 */
export async function sendEnvelope(bus: Bus, prefix: string, envelope: ChatRequest): Promise<ReplyFrame[]> {
  const frames: ReplyFrame[] = [];
  await exchangeEnvelope(bus, subjectsFor(prefix).chat(envelope.intent), encodeJson(envelope), {
    maxWaitMs: envelope.timeout_ms + 5000,
    onFrame: (frame) => frames.push(frame),
  });
  return frames;
}
