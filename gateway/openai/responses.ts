import type { AgentPart, DoneFrame, FallbackStep, Routing, ToolCallFragment } from '../../bus-schemas/index.js';
import type { CollectedAnswer } from '../call/collect-answer.js';

export type { CollectedAnswer };

/** The `meta` object agentbus adds to responses. */
export interface ResponseMeta {
  memory_used: boolean;
  processing_time: string;
  cached: boolean;
  agent: string;
  model: string;
  worker: string;
  confidence?: number;
  /** The provider of the agent's chain that answered. */
  provider?: string;
  /** Steps away from the first choice (retry, fallback agent, next provider), in order. */
  fallback?: FallbackStep[];
  /** How the agent(s) were chosen. */
  routing?: Routing;
  /** Each agent's part of a fan-out answer. */
  agents?: AgentPart[];
}

/** Identity shared by every chunk of one completion. */
export interface CompletionIdentity {
  id: string;
  created: number;
  model: string;
}

/** Processing time as users read it: seconds with two decimals, e.g. "0.12s". */
export function formatProcessingTime(ms: number): string {
  return `${(ms / 1000).toFixed(2)}s`;
}

export function responseMeta(done: DoneFrame): ResponseMeta {
  const { meta } = done;
  const out: ResponseMeta = {
    memory_used: meta.memory_used,
    processing_time: formatProcessingTime(meta.processing_ms),
    cached: meta.cached,
    agent: meta.agent,
    model: meta.model,
    worker: meta.worker,
  };
  if (meta.confidence !== undefined) out.confidence = meta.confidence;
  if (meta.provider !== undefined) out.provider = meta.provider;
  if (meta.fallback !== undefined && meta.fallback.length > 0) out.fallback = meta.fallback;
  if (meta.routing !== undefined) out.routing = meta.routing;
  if (meta.agents !== undefined) out.agents = meta.agents;
  return out;
}

/**
 * The assistant message: `content` is null when the model only called tools or only refused (its
 * words then in `refusal`), as OpenAI sends it; a reasoning model's thinking is `reasoning_content`
 * (DeepSeek's, vLLM's and LiteLLM's field).
 */
export function assistantMessage({ content, toolCalls, reasoning, refusal }: Omit<CollectedAnswer, 'done'>) {
  const thinking = reasoning ? { reasoning_content: reasoning } : {};
  const said = { refusal: refusal === '' ? null : refusal, ...thinking };
  if (toolCalls.length === 0 && refusal === '') return { role: 'assistant' as const, content, ...said };
  return {
    role: 'assistant' as const,
    content: content === '' ? null : content,
    ...said,
    ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
  };
}

/**
 * OpenAI's `chat.completion` object, one choice, then `tail` (agentbus's fields): the answer as it
 * goes out and a stored one read back (stored-completion.ts) share this shape.
 */
export function chatCompletionObject<Tail extends object>(
  identity: CompletionIdentity,
  message: ReturnType<typeof assistantMessage>,
  finishReason: string,
  usage: DoneFrame['usage'],
  tail: Tail,
) {
  return {
    id: identity.id,
    object: 'chat.completion' as const,
    created: identity.created,
    model: identity.model,
    system_fingerprint: null,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason }],
    usage,
    ...tail,
  };
}

/** A complete `chat.completion` object, as OpenAI returns it, plus agentbus's fields. */
export function chatCompletion(identity: CompletionIdentity, { done, ...answer }: CollectedAnswer) {
  return chatCompletionObject(identity, assistantMessage(answer), done.finish_reason, done.usage, {
    conversation_id: done.meta.conversation_id,
    meta: responseMeta(done),
  });
}

type ChunkDelta = {
  role?: 'assistant';
  content?: string | null;
  refusal?: string | null;
  reasoning_content?: string;
  tool_calls?: ToolCallFragment[];
  /** A spoken answer's pieces, as OpenAI streams them: id, transcript, data, then expires_at. */
  audio?: { id?: string; transcript?: string; data?: string; expires_at?: number };
};

/** Fields every `chat.completion.chunk` of one completion repeats. */
function chunkHeader(identity: CompletionIdentity) {
  return {
    id: identity.id,
    object: 'chat.completion.chunk' as const,
    created: identity.created,
    model: identity.model,
    system_fingerprint: null,
  };
}

/** One `chat.completion.chunk`. */
export function chatCompletionChunk(
  identity: CompletionIdentity,
  conversationId: string,
  delta: ChunkDelta,
  finishReason: string | null = null,
  extra: Record<string, unknown> = {},
) {
  return {
    ...chunkHeader(identity),
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    conversation_id: conversationId,
    ...extra,
  };
}

/** The usage-only chunk sent before `[DONE]` when `stream_options.include_usage` is set. */
export function usageChunk(identity: CompletionIdentity, conversationId: string, done: DoneFrame) {
  return { ...chunkHeader(identity), choices: [], usage: done.usage, conversation_id: conversationId };
}
