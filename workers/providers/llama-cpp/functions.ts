import { AgentbusError, type ToolDefinition } from '../../../bus-schemas/index.js';
import { parametersOf } from '../forced-tool-call.js';
import type { ProviderToolCall } from '../types.js';
import { grammarSchema } from './grammar-schema.js';
import { toolArgumentsCheck } from '../schema-check.js';
import type { ChatModelFunctions, LlamaChatResponseFunctionCall } from './load-module.js';

/**
 * The request's tools as node-llama-cpp functions, for `tool_choice` "auto": the model answers in
 * text or writes a call in its chat wrapper's syntax, whose arguments a grammar then holds to the
 * function's schema (what it cannot hold, the check of {@link toToolCalls} does). A schema the
 * grammar could never write is a 400 naming the function.
 */
export function toFunctions(tools: readonly ToolDefinition[]): ChatModelFunctions {
  const functions: Record<string, ChatModelFunctions[string]> = {};
  for (const tool of tools) {
    const { name, description } = tool.function;
    const parameters = parametersOf(tool);
    try {
      functions[name] = { ...(description ? { description } : {}), params: grammarSchema(parameters) };
    } catch (err) {
      if (!(err instanceof AgentbusError)) throw err;
      throw new AgentbusError('invalid_request', `Function "${name}": ${err.message}`, { param: 'tools', cause: err });
    }
    toolArgumentsCheck(name, parameters); // one it cannot check is refused before the model runs
  }
  return functions;
}

/**
 * The calls node-llama-cpp parsed from the model's output, as tool calls (the worker gives them
 * ids), each checked against its function's schema, which the grammar covers only in part.
 */
export function toToolCalls(
  calls: readonly LlamaChatResponseFunctionCall[] | undefined,
  tools: readonly ToolDefinition[],
): ProviderToolCall[] {
  return (calls ?? []).map((call) => {
    const tool = tools.find((candidate) => candidate.function.name === call.functionName);
    const args = call.params ?? {};
    if (tool) toolArgumentsCheck(call.functionName, parametersOf(tool))(args);
    return { name: call.functionName, arguments: JSON.stringify(args) };
  });
}
