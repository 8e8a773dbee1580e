import type { ChatMessage, ChatRequest, SamplingOptions } from '../../bus-schemas/index.js';
import type { Agent } from '../../common/catalog.js';
import { cacheKey } from '../cache/cache-key.js';

/** Everything that decides the answer, as the cache key sees it. */
export function cacheKeyOf(
  envelope: ChatRequest,
  agent: Agent,
  options: SamplingOptions,
  history: readonly ChatMessage[],
): string {
  return cacheKey({
    tenant: envelope.tenant,
    agent: agent.name,
    model: agent.model,
    options,
    messages: envelope.messages.map(seenByModel),
    // History is part of what the model sees: the same question later in a conversation is
    // a different request.
    ...(history.length > 0 ? { history: history.map(seenByModel) } : {}),
    ...(envelope.tools
      ? { tools: { definitions: envelope.tools, parallel: envelope.parallel_tool_calls ?? true } }
      : {}),
    ...(envelope.tool_choice !== undefined ? { tool_choice: envelope.tool_choice } : {}),
    ...(envelope.response_format ? { response_format: envelope.response_format } : {}),
  });
}

type SentAs = { developer?: true; part_lengths?: number[]; refusal_parts?: number[] };

/**
 * A message as the model sees it: `developer`, `part_lengths` and `refusal_parts` say only how the client sent it
 * (read back by `input_items`), so two requests differing in them get the same answer.
 */
export function seenByModel(message: ChatMessage): ChatMessage {
  const sent = message as ChatMessage & SentAs;
  if (sent.developer === undefined && sent.part_lengths === undefined && sent.refusal_parts === undefined)
    return message;
  const { developer: _developer, part_lengths: _partLengths, refusal_parts: _refusalParts, ...seen } = sent;
  return seen;
}
