import { PROTOCOL_VERSION, type ChatMessage, type ChatRequest, type SamplingOptions } from '../../bus-schemas/index.js';
import type { ChatCompletionRequest } from './chat-completion-request.schema.js';

type RequestMessage = ChatCompletionRequest['messages'][number];

/** Flattens OpenAI content (string, null, or text parts) to the bus's plain text. */
function textOf(content: RequestMessage['content']): string {
  if (content == null) return '';
  if (typeof content === 'string') return content;
  return content.map((part) => part.text).join('');
}

/** OpenAI messages → bus messages: `developer` is OpenAI's newer name for `system`. */
export function normalizeMessages(messages: ChatCompletionRequest['messages']): ChatMessage[] {
  return messages.map((message) => {
    const normalized: ChatMessage = { role: message.role === 'developer' ? 'system' : message.role, content: textOf(message.content) };
    if (message.name !== undefined) normalized.name = message.name;
    return normalized;
  });
}

/** OpenAI sampling parameters → bus options; nulls mean "not set". */
export function samplingOptions(body: ChatCompletionRequest): SamplingOptions {
  const options: SamplingOptions = {};
  if (body.temperature != null) options.temperature = body.temperature;
  if (body.top_p != null) options.top_p = body.top_p;
  const maxTokens = body.max_completion_tokens ?? body.max_tokens;
  if (maxTokens != null) options.max_tokens = maxTokens;
  if (body.stop != null) options.stop = typeof body.stop === 'string' ? [body.stop] : [...body.stop];
  if (body.seed != null) options.seed = body.seed;
  if (body.presence_penalty != null) options.presence_penalty = body.presence_penalty;
  if (body.frequency_penalty != null) options.frequency_penalty = body.frequency_penalty;
  return options;
}

export interface EnvelopeContext {
  requestId: string;
  sessionId: string;
  /** True when the gateway generated the session id (no X-Session-ID): start the conversation. */
  createSession: boolean;
  intent: string;
  tenant: string;
  now: number;
  timeoutMs: number;
  heartbeatMs: number;
  traceparent: string | undefined;
}

/** Builds the bus envelope for a validated OpenAI request. */
export function toEnvelope(body: ChatCompletionRequest, ctx: EnvelopeContext): ChatRequest {
  const envelope: ChatRequest = {
    v: PROTOCOL_VERSION,
    request_id: ctx.requestId,
    session_id: ctx.sessionId,
    create_session: ctx.createSession,
    intent: ctx.intent,
    model: body.model,
    messages: normalizeMessages(body.messages),
    options: samplingOptions(body),
    stream: body.stream === true,
    timeout_ms: ctx.timeoutMs,
    heartbeat_ms: ctx.heartbeatMs,
    tenant: ctx.tenant,
    created_at: ctx.now,
  };
  if (ctx.traceparent) envelope.traceparent = ctx.traceparent;
  return envelope;
}
