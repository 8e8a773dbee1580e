import { AgentbusError } from '../../../bus-schemas/index.js';

// node-llama-cpp's plain Errors when the prompt cannot fit the context, even after it compressed
// the history (LlamaChat, prepareDecisionContextWindow, findCharacterRemovalCountToFitChatHistoryInContext).
const CONTEXT_TOO_SMALL = /context size is too small|failed to compress chat history/i;

/**
 * Maps a failure of an in-process generation to the error table. A conversation too long for the
 * context is the request's (`context_length_exceeded`, 400): not retried, and not counted by the
 * provider's breaker, so one client's long prompts cannot shut the model for everyone.
 */
export function llamaCppError(err: unknown, file: string, contextSize: number): AgentbusError {
  if (err instanceof AgentbusError) return err;
  const message = (err as Error)?.message ?? String(err);
  if (CONTEXT_TOO_SMALL.test(message))
    return new AgentbusError(
      'context_length_exceeded',
      `The conversation does not fit the context of ${contextSize} tokens of ${file} ` +
        `(LLAMA_CPP_CONTEXT_SIZE): ${message}. Send fewer or shorter messages, or start a new conversation.`,
      { param: 'messages', cause: err },
    );
  return new AgentbusError('backend_error', `llama.cpp failed on ${file}: ${message}`, { cause: err });
}
