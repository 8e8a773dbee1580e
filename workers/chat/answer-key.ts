import {
  READ_BACK_ONLY_FIELDS,
  type ChatMessage,
  type ChatRequest,
  type SamplingOptions,
} from '../../bus-schemas/index.js';
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
    // A terser or fuller answer is another answer; the service tier changes only how it was made.
    ...(envelope.verbosity ? { verbosity: envelope.verbosity } : {}),
  });
}

/**
 * A message as the model sees it, without the fields that say only how the client sent it
 * ({@link READ_BACK_ONLY_FIELDS}): two requests differing in them get the same answer.
 */
export function seenByModel(message: ChatMessage): ChatMessage {
  if (!READ_BACK_ONLY_FIELDS.some((field) => field in message)) return message;
  const seen: Record<string, unknown> = { ...message };
  // Beside images the split places them among the texts (the openai provider), so it counts.
  const placesImages = 'image_parts' in message;
  for (const field of READ_BACK_ONLY_FIELDS) if (!(field === 'part_lengths' && placesImages)) delete seen[field];
  return seen as ChatMessage;
}
