import { AgentbusError, type ChatMessage, type ToolChoice, type ToolDefinition } from '../../bus-schemas/index.js';
import type { FinishReason, ProviderToolCall } from './types.js';
import { toolArgumentsCheck } from './schema-check.js';

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
   * The constrained output as the tool call. Output that is not it throws `invalid_request` on
   * `tools`: held to the schema, the model could not write a call that matches it (one nothing
   * satisfies, like an empty `enum`).
   */
  toCall(output: string): ProviderToolCall;
  /**
   * The answer of the whole output. `cut`: a token limit ended it (`max_tokens`, on llama.cpp also
   * LLAMA_CPP_MAX_TOKENS or the context's room). Output cut before its JSON was complete is what
   * OpenAI answers then: `finish_reason` "length" and the call with its arguments as far as they
   * were written, or no call while the function's name was not yet complete.
   */
  answer(output: string, cut: boolean): { call: ProviderToolCall | undefined; finishReason: FinishReason };
}

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

function parseOutput(output: string): unknown {
  try {
    return JSON.parse(output);
  } catch {
    throw unmatchable(`it wrote ${output.length} characters that are not JSON`);
  }
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

// The start of a choice's output, `{"name": "f", "arguments": …`, in the schema's property order:
// the name once its closing quote is written, then the arguments once their key is.
const CHOICE_NAME = /^\s*\{\s*"name"\s*:\s*"([^"\\]*)"([\s\S]*)$/;
const CHOICE_ARGUMENTS = /^\s*,\s*"arguments"\s*:\s*([\s\S]*)$/;

/** The answer of a forced call's output, whole or cut; `partial` reads a cut output's call. */
function answerOf(
  output: string,
  cut: boolean,
  toCall: (output: string) => ProviderToolCall,
  partial: (output: string) => ProviderToolCall | undefined,
): { call: ProviderToolCall | undefined; finishReason: FinishReason } {
  // A limit reached just as the JSON closed leaves a whole call.
  if (cut && !isJson(output)) return { call: partial(output), finishReason: 'length' };
  return { call: toCall(output), finishReason: 'tool_calls' };
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
    const check = toolArgumentsCheck(name, schema);
    const toCall = (output: string) => {
      const args = parseOutput(output);
      check(args);
      return { name, arguments: JSON.stringify(args) };
    };
    return {
      schema,
      instruction: {
        role: 'system',
        content:
          `Call the function ${name}${only.function.description ? ` (${only.function.description})` : ''}. ` +
          'Answer with its arguments only, as one JSON object.',
      },
      toCall,
      answer: (output, cut) => answerOf(output, cut, toCall, (partial) => ({ name, arguments: partial.trimStart() })),
    };
  }
  const checks = new Map(
    candidates.map((tool) => [tool.function.name, toolArgumentsCheck(tool.function.name, parametersOf(tool))]),
  );
  const toCall = (output: string) => {
    const call = parseOutput(output) as { name?: unknown; arguments?: unknown };
    const check = typeof call?.name === 'string' ? checks.get(call.name) : undefined;
    if (!check) throw unmatchable('it named no function of "tools"');
    check(call.arguments ?? {});
    return { name: call.name as string, arguments: JSON.stringify(call.arguments ?? {}) };
  };
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
    toCall,
    answer: (output, cut) =>
      answerOf(output, cut, toCall, (partial) => {
        const [, name, rest = ''] = CHOICE_NAME.exec(partial) ?? [];
        const check = name === undefined ? undefined : checks.get(name);
        if (!check) return undefined;
        const args = CHOICE_ARGUMENTS.exec(rest)?.[1] ?? '';
        // Arguments written whole (only the closing brace cut) are held to the schema as a whole call's are.
        if (isJson(args)) check(JSON.parse(args));
        return { name: name!, arguments: args };
      }),
  };
}
