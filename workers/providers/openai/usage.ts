import type OpenAI from 'openai';
import type { Usage } from '../../../bus-schemas/index.js';

/** The upstream's usage; its reasoning tokens passed on when it counts them (reasoning servers do). */
export function usageOf(usage: OpenAI.CompletionUsage): Usage {
  const reasoning = usage.completion_tokens_details?.reasoning_tokens;
  return {
    prompt_tokens: usage.prompt_tokens,
    completion_tokens: usage.completion_tokens,
    total_tokens: usage.total_tokens,
    ...(typeof reasoning === 'number' ? { completion_tokens_details: { reasoning_tokens: reasoning } } : {}),
  };
}
