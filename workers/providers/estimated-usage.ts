import type { ChatMessage, Usage } from '../../bus-schemas/index.js';
import { estimatedTokens } from '../../common/estimated-tokens.js';

/** What the answer streamed, for an estimate when the backend reports no usage. */
export interface StreamedOutput {
  /** Chunks that carried text, thinking or call arguments: one token each on llama.cpp's server, vLLM, Ollama. */
  chunks: number;
  chars: number;
}

const textOf = (message: ChatMessage) =>
  message.content.length +
  (message.role === 'assistant' ? (message.tool_calls ?? []).reduce((n, c) => n + c.function.arguments.length, 0) : 0);

/** The prompt at four characters a token. */
export function estimatedPromptTokens(prompt: readonly ChatMessage[]): number {
  return estimatedTokens(prompt.reduce((n, message) => n + textOf(message), 0));
}

/** The answer as its chunks, or its characters so counted when that is more (several tokens a chunk). */
export function estimatedCompletionTokens(output: StreamedOutput): number {
  return Math.max(output.chunks, estimatedTokens(output.chars));
}

/**
 * Usage for a backend that sent none (a server that ignores `stream_options`, Ollama leaving out a
 * count): the bus needs numbers, and zeros would tell memory and the token metrics that a whole
 * answer cost nothing.
 */
export function estimatedUsage(prompt: readonly ChatMessage[], output: StreamedOutput): Usage {
  const prompt_tokens = estimatedPromptTokens(prompt);
  const completion_tokens = estimatedCompletionTokens(output);
  return { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens };
}
