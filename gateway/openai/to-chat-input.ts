import {
  AgentbusError,
  type ChatRequest,
  type ResponseFormat,
  type SamplingOptions,
  type ToolDefinition,
} from '../../bus-schemas/index.js';
import type { ChatInput } from '../chat/types.js';
import type { ChatBody, JsonSchemaFormat } from './chat-completion-request.schema.js';
import { checkInputLimits, type InputLimits } from './input-limits.js';
import { RESPONSES_FIELDS_ON_CHAT } from './other-api-fields.js';
import { rejectUnsupportedParameters } from './unsupported-parameters.js';
import { normalizeMessages } from './normalize-messages.js';
import { checkStrictSchemaRoot } from './strict-schema.js';

/** OpenAI sampling parameters → bus options; nulls mean "not set". */
export function samplingOptions(body: ChatBody): SamplingOptions {
  const options: SamplingOptions = {};
  if (body.temperature != null) options.temperature = body.temperature;
  if (body.top_p != null) options.top_p = body.top_p;
  // max_completion_tokens is OpenAI's newer name; when both are sent it is the one that counts.
  const maxTokens = body.max_completion_tokens ?? body.max_tokens;
  if (maxTokens != null) options.max_tokens = maxTokens;
  if (body.stop != null) options.stop = typeof body.stop === 'string' ? [body.stop] : [...body.stop];
  if (body.seed != null) options.seed = body.seed;
  if (body.presence_penalty != null) options.presence_penalty = body.presence_penalty;
  if (body.frequency_penalty != null) options.frequency_penalty = body.frequency_penalty;
  if (body.reasoning_effort != null) options.reasoning_effort = body.reasoning_effort;
  return options;
}

/**
 * `stream_options` shapes a stream: sent for a JSON answer it asks for nothing, so it is refused
 * as OpenAI refuses it (its message). `stream` is the route's decision: /v1/chat/stream always streams.
 */
export function checkStreamOptions(body: { stream_options?: unknown }, stream: boolean): void {
  if (stream || body.stream_options == null) return;
  const message = "The 'stream_options' parameter is only allowed when 'stream' is enabled.";
  throw new AgentbusError('invalid_request', message, { param: 'stream_options' });
}

/** The tool fields of the envelope; copies only what the bus knows of each definition. */
function toolFields(body: ChatBody): Pick<ChatRequest, 'tools' | 'tool_choice' | 'parallel_tool_calls'> {
  const tools = body.tools ?? [];
  if (body.tool_choice != null && tools.length === 0) {
    throw new AgentbusError('invalid_request', '"tool_choice" is only allowed when "tools" are specified.', {
      param: 'tool_choice',
    });
  }
  if (tools.length === 0) return {};
  const names = new Set<string>();
  const copied = tools.map((tool, index): ToolDefinition => {
    const { name, description, parameters, strict } = tool.function;
    if (names.has(name))
      throw new AgentbusError('invalid_request', `tools[${index}]: the function name "${name}" is used twice.`, {
        param: `tools[${index}].function.name`,
      });
    names.add(name);
    return {
      type: 'function',
      function: {
        name,
        ...(description !== undefined ? { description } : {}),
        ...(parameters !== undefined ? { parameters } : {}),
        ...(strict != null ? { strict } : {}),
      },
    };
  });
  const choice = body.tool_choice;
  if (choice != null && typeof choice === 'object' && !names.has(choice.function.name)) {
    throw new AgentbusError(
      'invalid_request',
      `tool_choice names the function "${choice.function.name}", which is not in "tools".`,
      { param: 'tool_choice' },
    );
  }
  return {
    tools: copied,
    ...(choice != null
      ? {
          tool_choice:
            typeof choice === 'string' ? choice : { type: 'function', function: { name: choice.function.name } },
        }
      : {}),
    ...(body.parallel_tool_calls != null ? { parallel_tool_calls: body.parallel_tool_calls } : {}),
  };
}

/** `response_format` for the bus: absent for plain text. */
function responseFormat(body: ChatBody): ResponseFormat | undefined {
  const format = body.response_format;
  if (format == null || format.type === 'text') return undefined;
  if (format.type === 'json_object') return { type: 'json_object' };
  // The validator checked it: required and typed under the schema's if/then.
  const jsonSchema = format['json_schema'] as JsonSchemaFormat;
  checkStrictSchemaRoot(jsonSchema);
  const { name, description, schema, strict } = jsonSchema;
  return {
    type: 'json_schema',
    json_schema: {
      name,
      ...(description !== undefined ? { description } : {}),
      ...(schema !== undefined ? { schema } : {}),
      ...(strict != null ? { strict } : {}),
    },
  };
}

/**
 * The chat input of a validated OpenAI chat body: unsupported parameters and input limits are
 * refused here, by name, as 400s; what passes is mapped to the bus's terms.
 */
export function toChatInput(body: ChatBody, stream: boolean, limits: InputLimits): ChatInput {
  rejectUnsupportedParameters(body);
  rejectUnsupportedParameters(body, RESPONSES_FIELDS_ON_CHAT);
  checkStreamOptions(body, stream);
  checkInputLimits(body, limits);
  const format = responseFormat(body);
  return {
    model: body.model,
    messages: normalizeMessages(body.messages),
    options: samplingOptions(body),
    // Which name the cap goes upstream under: reasoning models refuse max_tokens, older servers know only it.
    ...(body.max_completion_tokens != null ? { max_tokens_param: 'max_completion_tokens' as const } : {}),
    ...toolFields(body),
    ...(body.verbosity != null ? { verbosity: body.verbosity } : {}),
    ...(body.service_tier != null ? { service_tier: body.service_tier } : {}),
    ...(format ? { response_format: format } : {}),
    ...(body.user != null ? { user: body.user } : {}),
    ...(body.metadata != null && Object.keys(body.metadata).length > 0 ? { metadata: body.metadata } : {}),
    ...(body.store === false ? { store: false } : {}),
    stream,
  };
}
