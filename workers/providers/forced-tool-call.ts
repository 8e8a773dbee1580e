import { AgentbusError, type ChatMessage, type ToolChoice, type ToolDefinition } from '../../bus-schemas/index.js';
import type { ProviderToolCall } from './types.js';
import { checkToolArguments } from './tool-arguments.js';

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
   * The constrained output as the tool call. Output that is not it throws `invalid_request`: on
   * `max_tokens` when the token limit cut it (`cut`), else on `tools` — held to the schema, the
   * model could not write a call that matches it (one nothing satisfies, like an empty `enum`).
   */
  toCall(output: string, cut?: boolean | CutBy): ProviderToolCall;
}

/** What cut a forced call short, when not the client's own `max_tokens`, and what to do about it. */
export interface CutBy {
  /** The limit, for the message: "LLAMA_CPP_MAX_TOKENS (512)". */
  limit: string;
  /** What the client can do: "send a larger max_tokens". */
  fix: string;
  param: string;
}

const BY_MAX_TOKENS: CutBy = { limit: 'max_tokens', fix: 'raise max_tokens', param: 'max_tokens' };

/**
 * The schema of a function's arguments, which are a JSON object: none, or one without a `type`,
 * is an object of it; another type is refused, as OpenAI refuses it (the output could never be one).
 */
export function parametersOf(tool: ToolDefinition): Record<string, unknown> {
  const parameters = tool.function.parameters;
  if (parameters === undefined) return { type: 'object', properties: {} };
  if (parameters['type'] === undefined) return { type: 'object', ...parameters };
  if (parameters['type'] === 'object') return parameters;
  throw new AgentbusError(
    'invalid_request',
    `The parameters of function "${tool.function.name}" must be a JSON Schema of type "object", ` +
      `not ${JSON.stringify(parameters['type'])}: a tool call's arguments are a JSON object.`,
    { param: 'tools' },
  );
}

// Not the backend's fault: retrying cannot help, and nothing is counted against the provider.
const unmatchable = (what: string) =>
  new AgentbusError(
    'invalid_request',
    `The model could not write a forced tool call that matches the tool's parameter schema (${what}); ` +
      'check that the schema can be satisfied, for example that no enum is empty.',
    { param: 'tools' },
  );

function parseOutput(output: string, cut: boolean | CutBy = false): unknown {
  try {
    return JSON.parse(output);
  } catch {
    // The request's limit: no retry, and nothing counted against the provider.
    if (cut) {
      const by = cut === true ? BY_MAX_TOKENS : cut;
      throw new AgentbusError(
        'invalid_request',
        `${by.limit} cut the forced tool call before its JSON was complete (${output.length} characters ` +
          `written); ${by.fix}.`,
        { param: by.param },
      );
    }
    throw unmatchable(`it wrote ${output.length} characters that are not JSON`);
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
    const schema = parametersOf(only);
    return {
      schema,
      instruction: {
        role: 'system',
        content:
          `Call the function ${name}${only.function.description ? ` (${only.function.description})` : ''}. ` +
          'Answer with its arguments only, as one JSON object.',
      },
      toCall: (output, cut) => {
        const args = parseOutput(output, cut);
        checkToolArguments(name, schema, args);
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
        throw unmatchable('it named no function of "tools"');
      const tool = candidates.find((candidate) => candidate.function.name === call.name)!;
      checkToolArguments(call.name, parametersOf(tool), call.arguments ?? {});
      return { name: call.name, arguments: JSON.stringify(call.arguments ?? {}) };
    },
  };
}
