import { AgentbusError, type ChatMessage, type ToolChoice, type ToolDefinition } from '../../bus-schemas/index.js';
import type { ProviderToolCall } from './types.js';

/**
 * A tool call the model must make (`tool_choice: "required"` or a named function) on a backend
 * that cannot force one (Ollama, llama.cpp): the model's output is constrained to a JSON Schema
 * (Ollama `format`, a llama.cpp grammar) and that JSON becomes the tool call.
 */
export interface ForcedToolCall {
  /** What the output must match: the function's parameters, or `{name, arguments}` for a choice. */
  schema: Record<string, unknown>;
  /** An instruction put after the conversation, so the model knows what the JSON is for. */
  instruction: ChatMessage;
  /**
   * The constrained output as the tool call. Output that is not it throws: `invalid_request` on
   * `max_tokens` when the token limit cut it (`cut`), else `backend_error`.
   */
  toCall(output: string, cut?: boolean): ProviderToolCall;
}

const parametersOf = (tool: ToolDefinition): Record<string, unknown> =>
  tool.function.parameters ?? { type: 'object', properties: {} };

function parseOutput(output: string, cut = false): unknown {
  try {
    return JSON.parse(output);
  } catch {
    // The client's limit, not the backend's fault: no retry, and nothing counted against the provider.
    if (cut)
      throw new AgentbusError(
        'invalid_request',
        `max_tokens cut the forced tool call before its JSON was complete (${output.length} characters ` +
          'written); raise max_tokens.',
        { param: 'max_tokens' },
      );
    throw new AgentbusError(
      'backend_error',
      `The model did not finish its forced tool call as JSON; it wrote ${output.length} characters.`,
    );
  }
}

function toolList(tools: readonly ToolDefinition[]): string {
  return tools
    .map((tool) => `- ${tool.function.name}${tool.function.description ? `: ${tool.function.description}` : ''}`)
    .join('\n');
}

/** The forced call of a request, or undefined when the model may answer in text (auto, none). */
export function forcedToolCall(
  tools: readonly ToolDefinition[] | undefined,
  choice: ToolChoice | undefined,
): ForcedToolCall | undefined {
  if (!tools?.length || choice === undefined || choice === 'auto' || choice === 'none') return undefined;
  const named = typeof choice === 'object' ? choice.function.name : undefined;
  const candidates = named ? tools.filter((tool) => tool.function.name === named) : tools;
  const only = candidates.length === 1 ? candidates[0] : undefined;
  if (only) {
    const name = only.function.name;
    return {
      schema: parametersOf(only),
      instruction: {
        role: 'system',
        content:
          `Call the function ${name}${only.function.description ? ` (${only.function.description})` : ''}. ` +
          'Answer with its arguments only, as one JSON object.',
      },
      toCall: (output, cut) => {
        const args = parseOutput(output, cut);
        return { name, arguments: JSON.stringify(args) };
      },
    };
  }
  const names = candidates.map((tool) => tool.function.name);
  return {
    schema: {
      // oneOf, not anyOf: the names tell the forms apart, and node-llama-cpp's grammars take only oneOf.
      oneOf: candidates.map((tool) => ({
        type: 'object',
        properties: { name: { enum: [tool.function.name] }, arguments: parametersOf(tool) },
        required: ['name', 'arguments'],
      })),
    },
    instruction: {
      role: 'system',
      content:
        `Call one of these functions:\n${toolList(candidates)}\n` +
        'Answer with one JSON object only: {"name": <the function>, "arguments": {…its arguments}}.',
    },
    toCall: (output, cut) => {
      const call = parseOutput(output, cut) as { name?: unknown; arguments?: unknown };
      if (typeof call?.name !== 'string' || !names.includes(call.name))
        throw new AgentbusError('backend_error', 'The model named no function of "tools" in its forced tool call.');
      return { name: call.name, arguments: JSON.stringify(call.arguments ?? {}) };
    },
  };
}
