import type { ChatHistoryItem, ChatWrapper, Tokenizer } from './load-module.js';

/**
 * The prompt's length in tokens as the model reads it: the history rendered by the session's
 * chat wrapper with the model's turn opened, as LlamaChat renders it before generating. Counted
 * here because the sequence's token meter counts only the tokens it evaluates, and a repeated
 * prompt reuses the prefix already in the sequence (0 new tokens).
 */
export function countPromptTokens(
  chatWrapper: ChatWrapper,
  tokenizer: Tokenizer,
  history: readonly ChatHistoryItem[],
): number {
  const chatHistory: ChatHistoryItem[] = [...history, { type: 'model', response: [] }];
  return chatWrapper.generateContextState({ chatHistory }).contextText.tokenize(tokenizer).length;
}
