import type { ChatRequest as OllamaChatRequest, Message as OllamaMessage, Tool as OllamaTool } from 'ollama';
import {
  AgentbusError,
  type ChatMessage,
  type ResponseFormat,
  type ToolChoice,
  type ToolDefinition,
} from '../../../bus-schemas/index.js';
import type { ProviderChatRequest } from '../types.js';
import type { ForcedToolCall } from '../forced-tool-call.js';
import { toOllamaOptions, toOllamaThink } from './params.js';

/** Ollama wants tool-call arguments as an object; OpenAI clients send the JSON text. */
function parseArguments(name: string, text: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = text.trim() === '' ? {} : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new AgentbusError(
      'invalid_request',
      `The arguments of the tool call to "${name}" in messages are not a JSON object; ` +
        'Ollama takes tool-call arguments as an object.',
      { param: 'messages' },
    );
  }
  return parsed as Record<string, unknown>;
}

/** Bus messages → Ollama messages. Tool results carry the function's name, found by call id. */
export function toOllamaMessages(messages: readonly ChatMessage[]): OllamaMessage[] {
  const functionNameOfCall = new Map<string, string>();
  return messages.map((message): OllamaMessage => {
    switch (message.role) {
      case 'system':
        return { role: 'system', content: message.content };
      case 'user':
        return { role: 'user', content: message.content, ...(message.images ? { images: message.images } : {}) };
      case 'assistant': {
        if (!message.tool_calls) return { role: 'assistant', content: message.content };
        for (const call of message.tool_calls) functionNameOfCall.set(call.id, call.function.name);
        return {
          role: 'assistant',
          content: message.content,
          tool_calls: message.tool_calls.map((call) => ({
            function: {
              name: call.function.name,
              arguments: parseArguments(call.function.name, call.function.arguments),
            },
          })),
        };
      }
      case 'tool': {
        const toolName = functionNameOfCall.get(message.tool_call_id);
        return { role: 'tool', content: message.content, ...(toolName ? { tool_name: toolName } : {}) };
      }
    }
  });
}

/**
 * OpenAI `tools` + `tool_choice` → Ollama `tools`. Ollama has no tool_choice: "auto" is its
 * only behaviour and "none" is sending no tools; a forced call is made by constraining the
 * output instead (forced-tool-call.ts), without `tools`.
 */
export function toOllamaTools(
  tools: readonly ToolDefinition[] | undefined,
  choice: ToolChoice | undefined,
): OllamaTool[] | undefined {
  if (!tools || tools.length === 0 || choice === 'none') return undefined;
  return tools.map((tool) => ({
    type: 'function',
    function: {
      name: tool.function.name,
      ...(tool.function.description !== undefined ? { description: tool.function.description } : {}),
      ...(tool.function.parameters !== undefined ? { parameters: tool.function.parameters } : {}),
    },
  }));
}

/** OpenAI `response_format` → Ollama `format`: "json", or a JSON Schema (structured outputs). */
export function toOllamaFormat(format: ResponseFormat | undefined): string | object | undefined {
  if (!format) return undefined;
  if (format.type === 'json_schema' && format.json_schema.schema) return format.json_schema.schema;
  return 'json';
}

/**
 * The whole `/api/chat` request. Request-level parameter table for Ollama (sampling options are
 * in params.ts): tools → `tools`, tool_choice none/auto as is, "required" or a named function
 * → `format` = the call's JSON Schema (`forced`), response_format → `format`. `user` and
 * `metadata` have no Ollama field: agentbus keeps them with the stored turn and the trace log.
 */
export function toOllamaChatRequest(
  request: ProviderChatRequest,
  forced?: ForcedToolCall,
): OllamaChatRequest & { stream: true } {
  if (forced && request.responseFormat)
    throw new AgentbusError(
      'invalid_request',
      'response_format and a forced tool call (tool_choice "required" or a named function) cannot both ' +
        'shape the answer on the Ollama backend; send one of them.',
      { param: 'response_format' },
    );
  const tools = forced ? undefined : toOllamaTools(request.tools, request.toolChoice);
  const format = forced ? forced.schema : toOllamaFormat(request.responseFormat);
  const messages = toOllamaMessages(forced ? [...request.messages, forced.instruction] : request.messages);
  const think = toOllamaThink(request.model, request.options.reasoning_effort);
  return {
    model: request.model,
    messages,
    // Stop sequences end text; a forced call has none, and one would cut its JSON (OpenAI's do not).
    options: toOllamaOptions(forced ? { ...request.options, stop: undefined } : request.options),
    ...(think !== undefined ? { think } : {}),
    ...(tools ? { tools } : {}),
    ...(format !== undefined ? { format } : {}),
    stream: true,
  };
}
