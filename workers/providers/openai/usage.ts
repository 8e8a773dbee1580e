import type OpenAI from 'openai';
import type { ChatMessage, Usage } from '../../../bus-schemas/index.js';
import { estimatedTokens } from '../../../common/estimated-tokens.js';

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

/** What the answer streamed, for an estimate when the upstream reports no usage. */
export interface StreamedOutput {
  /** Chunks that carried text, thinking or call arguments: one token each on llama.cpp's server and vLLM. */
  chunks: number;
  chars: number;
}

const textOf = (message: ChatMessage) =>
  message.content.length +
  (message.role === 'assistant' ? (message.tool_calls ?? []).reduce((n, c) => n + c.function.arguments.length, 0) : 0);

/**
 * Usage for an upstream that sent none (a server that ignores `stream_options`): the bus needs
 * numbers, and zeros would tell memory and the token metrics that a whole answer cost nothing.
 * The prompt at four characters a token; the answer as its chunks, or its characters so counted
 * when that is more (a server that streams several tokens a chunk).
 */
export function estimatedUsage(prompt: readonly ChatMessage[], output: StreamedOutput): Usage {
  const promptChars = prompt.reduce((n, message) => n + textOf(message), 0);
  const prompt_tokens = estimatedTokens(promptChars);
  const completion_tokens = Math.max(output.chunks, estimatedTokens(output.chars));
  return { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens };
}
