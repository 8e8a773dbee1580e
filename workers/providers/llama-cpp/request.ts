import { AgentbusError, type ChatMessage } from '../../../bus-schemas/index.js';
import type { ProviderChatRequest } from '../types.js';
import type { ChatHistoryItem, LlamaChatSession } from './load-module.js';

type GenerateOptions = Parameters<LlamaChatSession['generateResponse']>[1];

/**
 * The bus messages as node-llama-cpp's chat history; the model's own chat template (or a
 * general one when the GGUF has none) turns it into the prompt.
 */
export function toChatHistory(messages: readonly ChatMessage[]): ChatHistoryItem[] {
  return messages.map((message): ChatHistoryItem => {
    if (message.role === 'system') return { type: 'system', text: message.content };
    if (message.role === 'user') {
      if (message.images?.length)
        throw new AgentbusError(
          'invalid_request',
          'The llama-cpp provider takes text only, and a message holds images: send them to an agent on a ' +
            'vision model.',
          // No index: this list starts with the agent's system prompt and the stored history, which
          // the client's own message numbers do not count.
          { param: 'messages' },
        );
      return { type: 'user', text: message.content };
    }
    // Tool calls and results as text: the model's template has no tool turns, and a forced call's
    // round trip must still reach it (the call as the JSON it wrote, the result as the user's turn).
    if (message.role === 'assistant') {
      const calls = (message.tool_calls ?? []).map((call) =>
        JSON.stringify({ name: call.function.name, arguments: call.function.arguments }),
      );
      return { type: 'model', response: [[message.content ?? '', ...calls].filter(Boolean).join('\n')] };
    }
    return { type: 'user', text: `Result of tool call ${message.tool_call_id}: ${message.content}` };
  });
}

/**
 * Sampling options as node-llama-cpp's generation options. `presence_penalty` and
 * `frequency_penalty` have no exact llama.cpp equivalent here and are refused rather than
 * silently ignored, as are tools and structured outputs.
 *
 * A request without `max_tokens` gets `defaultMaxTokens` (LLAMA_CPP_MAX_TOKENS; 0: none). It
 * applies to every model, not only those without an end-of-turn token: nothing in a GGUF says
 * whether the model ever emits it (stories260K declares an EOS token and never writes it), and
 * a runaway answer holds one of the few CPU sequences until the request's deadline.
 */
export function toGenerateOptions(
  request: ProviderChatRequest,
  defaultMaxTokens: number,
  forcedCall = false,
): GenerateOptions {
  // "none" asks for text, which is all this provider writes otherwise: the tools are left out.
  if (request.tools?.length && !forcedCall && request.toolChoice !== 'none')
    throw new AgentbusError(
      'invalid_request',
      'The llama-cpp provider cannot let the model choose between text and a tool call: send tool_choice ' +
        '"required" or a named function (the output is then held to the tool\'s schema), "none", or no tools.',
      { param: 'tool_choice' },
    );
  if (request.responseFormat)
    throw new AgentbusError(
      'invalid_request',
      'The llama-cpp provider does not support response_format (structured outputs).',
      { param: 'response_format' },
    );
  const { options } = request;
  if (options.reasoning_effort !== undefined && options.reasoning_effort !== 'none')
    throw new AgentbusError(
      'invalid_request',
      'The llama-cpp provider cannot set reasoning effort; a model that thinks in <think> blocks has them ' +
        'returned as reasoning_content without it.',
      { param: 'reasoning_effort' },
    );
  for (const name of ['presence_penalty', 'frequency_penalty'] as const) {
    if (options[name] !== undefined)
      throw new AgentbusError('invalid_request', `The llama-cpp provider does not support ${name}.`, { param: name });
  }
  const out: GenerateOptions = { signal: request.signal, stopOnAbortSignal: false };
  if (options.temperature !== undefined) out.temperature = options.temperature;
  if (options.top_p !== undefined) out.topP = options.top_p;
  const maxTokens = options.max_tokens ?? (defaultMaxTokens > 0 ? defaultMaxTokens : undefined);
  if (maxTokens !== undefined) out.maxTokens = maxTokens;
  if (options.seed !== undefined) out.seed = options.seed;
  if (options.stop?.length) out.customStopTriggers = options.stop;
  return out;
}
