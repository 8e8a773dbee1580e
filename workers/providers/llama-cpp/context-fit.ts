import { AgentbusError } from '../../../bus-schemas/index.js';

export interface ContextFit {
  /** The prompt as the model reads it (countPromptTokens). */
  promptTokens: number;
  /** The request's own `max_tokens`, when it sent one. */
  requested: number | undefined;
  /** The generation's limit so far: `requested`, else LLAMA_CPP_MAX_TOKENS; undefined: none. */
  maxTokens: number | undefined;
  /** The context's size in tokens. */
  contextSize: number;
  /** LLAMA_CPP_CONTEXT_SIZE: above `contextSize` when the model was trained on less. */
  setting: number;
  /** The GGUF file, for messages. */
  file: string;
  /** Of `promptTokens`, what the tools' documentation takes (llama.cpp's functions under "auto"). */
  toolTokens?: number;
}

const tooLong = (message: string, param = 'messages') =>
  new AgentbusError('context_length_exceeded', message, { param });

/**
 * The most tokens the answer may take so that prompt and answer fit the context, or
 * `context_length_exceeded` (400, OpenAI's answer) when they cannot: a prompt that fills the
 * context, or a `max_tokens` the room left cannot hold. Without a check, node-llama-cpp drops the
 * start of the conversation to make room, and the model answers a prompt the client never sent.
 * A limit the client did not ask for (LLAMA_CPP_MAX_TOKENS, or none) shrinks to the room left.
 */
export function fitToContext(fit: ContextFit): number {
  const { promptTokens, requested, contextSize, file } = fit;
  const room = contextSize - promptTokens;
  const why =
    contextSize < fit.setting ? `its own size, below LLAMA_CPP_CONTEXT_SIZE ${fit.setting}` : 'LLAMA_CPP_CONTEXT_SIZE';
  const context = `the context of ${file} holds ${contextSize} tokens (${why})`;
  const toolTokens = fit.toolTokens ?? 0;
  const tools = toolTokens > 0 ? ` (${toolTokens} of them the tools' documentation)` : '';
  if (room <= 0 && promptTokens - toolTokens < contextSize)
    throw tooLong(
      `The conversation takes ${promptTokens} tokens${tools}, and ${context}: without the tools it would fit; ` +
        'send fewer tools, or shorter descriptions and parameter schemas.',
      'tools',
    );
  if (room <= 0)
    throw tooLong(
      `The conversation takes ${promptTokens} tokens${tools}, and ${context}: send fewer or shorter messages, ` +
        'or start a new conversation.',
    );
  if (requested !== undefined && requested > room)
    throw tooLong(
      `You requested ${promptTokens + requested} tokens (${promptTokens} in the messages, ${requested} in the ` +
        `completion), and ${context}: reduce the messages or max_tokens.`,
    );
  return Math.min(fit.maxTokens ?? room, room);
}
