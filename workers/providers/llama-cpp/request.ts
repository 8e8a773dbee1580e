import { randomInt } from 'node:crypto';
import { AgentbusError, type ChatMessage } from '../../../bus-schemas/index.js';
import type { ProviderChatRequest } from '../types.js';
import type { ChatHistoryItem, ChatModelFunctionCall, LlamaChatSession } from './load-module.js';

type GenerateOptions = Parameters<LlamaChatSession['generateResponse']>[1];

// llama.cpp's seed is a 32-bit unsigned integer.
const SEEDS = 2 ** 32;

/** JSON text as its value, for the chat wrapper to write back as JSON; other text as it is. */
function parsedOrText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

type AssistantMessage = Extract<ChatMessage, { role: 'assistant' }>;
type ToolMessage = Extract<ChatMessage, { role: 'tool' }>;

/**
 * An assistant turn: its calls that have a result among the tool messages after it become function
 * calls with their results, which the model's chat wrapper renders in its own syntax. A call
 * without a result (one that ends the request) stays as the JSON it was, as text.
 */
function modelTurn(message: AssistantMessage, results: ReadonlyMap<string, ToolMessage>): ChatHistoryItem {
  const response: Array<string | ChatModelFunctionCall> = message.content ? [message.content] : [];
  const unanswered: string[] = [];
  for (const call of message.tool_calls ?? []) {
    const result = results.get(call.id);
    if (!result) {
      unanswered.push(JSON.stringify({ name: call.function.name, arguments: call.function.arguments }));
      continue;
    }
    response.push({
      type: 'functionCall',
      name: call.function.name,
      params: parsedOrText(call.function.arguments),
      result: parsedOrText(result.content),
      ...(response.some((item) => typeof item !== 'string') ? {} : { startsNewChunk: true }),
    });
  }
  if (unanswered.length) response.push(unanswered.join('\n'));
  return { type: 'model', response: response.length ? response : [''] };
}

/**
 * The bus messages as node-llama-cpp's chat history; the model's own chat template (or a
 * general one when the GGUF has none) turns it into the prompt.
 */
export function toChatHistory(messages: readonly ChatMessage[]): ChatHistoryItem[] {
  // Tool results that answer a call of the assistant turn before them go into that turn.
  const absorbed = new Set<ChatMessage>();
  return messages.flatMap((message, index): ChatHistoryItem[] => {
    if (absorbed.has(message)) return [];
    if (message.role === 'system') return [{ type: 'system', text: message.content }];
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
      return [{ type: 'user', text: message.content }];
    }
    if (message.role === 'assistant') {
      const ids = new Set((message.tool_calls ?? []).map((call) => call.id));
      const results = new Map<string, ToolMessage>();
      // As on OpenAI, system messages may come between the calls and their results.
      for (const next of messages.slice(index + 1)) {
        if (next.role === 'system') continue;
        if (next.role !== 'tool') break;
        if (!ids.has(next.tool_call_id) || results.has(next.tool_call_id)) continue;
        results.set(next.tool_call_id, next);
        absorbed.add(next);
      }
      return [modelTurn(message, results)];
    }
    // A result whose call is not in the turn before it (memory cut, a client's own history): as text.
    return [{ type: 'user', text: `Result of tool call ${message.tool_call_id}: ${message.content}` }];
  });
}

/**
 * Sampling options as node-llama-cpp's generation options. `presence_penalty` and
 * `frequency_penalty` have no exact llama.cpp equivalent here and are refused rather than
 * silently ignored (tools and structured outputs are the provider's: grammars and functions).
 *
 * A request without `max_tokens` gets `defaultMaxTokens` (LLAMA_CPP_MAX_TOKENS; 0: none). It
 * applies to every model, not only those without an end-of-turn token: nothing in a GGUF says
 * whether the model ever emits it (stories260K declares an EOS token and never writes it), and
 * a runaway answer holds one of the few CPU sequences until the request's deadline.
 */
export function toGenerateOptions(request: ProviderChatRequest, defaultMaxTokens: number): GenerateOptions {
  const { options } = request;
  // Named as the bus field, which each route renames to its own (/api/generate's think, /v1/responses'
  // reasoning.effort); where the thinking goes is left unnamed, as each route returns it under its own field.
  if (options.reasoning_effort !== undefined && options.reasoning_effort !== 'none')
    throw new AgentbusError(
      'invalid_request',
      "The llama-cpp provider cannot turn a model's thinking on or set how much it thinks: leave reasoning_effort " +
        'out. A model that thinks in <think> blocks has that thinking returned apart from the answer without it.',
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
  // Without a seed of its own node-llama-cpp seeds each sampler with the clock's second: requests
  // sampled in the same second (a client's parallel "Regenerate") would all get the same answer.
  out.seed = options.seed ?? randomInt(SEEDS);
  // `stop` is applied to the text by the provider (stop-sequences.ts), not by node-llama-cpp.
  return out;
}
