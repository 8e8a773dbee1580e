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
    messages: envelope.messages,
    // History is part of what the model sees: the same question later in a conversation is
    // a different request.
    ...(history.length > 0 ? { history } : {}),
    ...(envelope.tools
      ? { tools: { definitions: envelope.tools, parallel: envelope.parallel_tool_calls ?? true } }
      : {}),
    ...(envelope.tool_choice !== undefined ? { tool_choice: envelope.tool_choice } : {}),
    ...(envelope.response_format ? { response_format: envelope.response_format } : {}),
  });
}
