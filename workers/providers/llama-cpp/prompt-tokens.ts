import type { ChatHistoryItem, ChatModelFunctions, ChatWrapper, Tokenizer } from './load-module.js';

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
  functions?: ChatModelFunctions,
): number {
  const chatHistory: ChatHistoryItem[] = [...history, { type: 'model', response: [] }];
  // The functions' documentation is part of the prompt, as LlamaChat renders it.
  const state = chatWrapper.generateContextState({
    chatHistory,
    ...(functions ? { availableFunctions: functions, documentFunctionParams: true } : {}),
  });
  return state.contextText.tokenize(tokenizer).length;
}
