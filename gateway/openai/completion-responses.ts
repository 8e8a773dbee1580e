import type { DoneFrame } from '../../bus-schemas/index.js';
import type { CollectedAnswer } from '../call/collect-answer.js';
import { responseMeta, type CompletionIdentity } from './responses.js';

/** Fields every `text_completion` object and chunk of one completion repeats. */
function header(identity: CompletionIdentity) {
  return {
    id: identity.id,
    object: 'text_completion' as const,
    created: identity.created,
    model: identity.model,
    system_fingerprint: null,
  };
}

/** A complete `text_completion`, as OpenAI's `/v1/completions` returns it, plus agentbus's fields. */
export function textCompletion(identity: CompletionIdentity, { content, done }: CollectedAnswer) {
  return {
    ...header(identity),
    choices: [{ text: content, index: 0, logprobs: null, finish_reason: done.finish_reason }],
    usage: done.usage,
    conversation_id: done.meta.conversation_id,
    meta: responseMeta(done),
  };
}

/** One streamed `text_completion` chunk: OpenAI streams the same object with a text fragment. */
export function textCompletionChunk(
  identity: CompletionIdentity,
  conversationId: string,
  text: string,
  finishReason: string | null = null,
  extra: Record<string, unknown> = {},
) {
  return {
    ...header(identity),
    choices: [{ text, index: 0, logprobs: null, finish_reason: finishReason }],
    conversation_id: conversationId,
    ...extra,
  };
}

/** The usage-only chunk sent before `[DONE]` when `stream_options.include_usage` is set. */
export function textCompletionUsageChunk(identity: CompletionIdentity, conversationId: string, done: DoneFrame) {
  return { ...header(identity), choices: [], usage: done.usage, conversation_id: conversationId };
}
