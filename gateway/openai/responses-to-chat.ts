import { AgentbusError } from '../../bus-schemas/index.js';
import type { ChatInput } from '../chat/types.js';
import type { ChatBody } from './chat-completion-request.schema.js';
import type { InputLimits } from './input-limits.js';
import { translateInput } from './responses-input.js';
import type { ResponsesBody } from './responses-request.schema.js';
import { UNSUPPORTED_RESPONSES_PARAMETERS } from './responses-unsupported.js';
import { toChatInput } from './to-chat-input.js';
import { rejectUnsupportedParameters } from './unsupported-parameters.js';

/** The id prefix of a response: as OpenAI's, so logs and clients can tell the faces apart. */
export const RESPONSE_ID_PREFIX = 'resp_';

/** Function tools in the chat API's shape; only `function` tools exist on agentbus's backends. */
function chatTools(tools: ResponsesBody['tools']): ChatBody['tools'] {
  if (tools == null) return undefined;
  return tools.map((tool, index) => {
    if (tool.type !== 'function')
      throw new AgentbusError(
        'invalid_request',
        `tools[${index}]: "${tool.type}" tools are not supported; only "function" tools are.`,
        { param: `tools[${index}].type` },
      );
    if (tool.name === undefined)
      throw new AgentbusError('invalid_request', `tools[${index}].name is required.`, {
        param: `tools[${index}].name`,
      });
    return {
      type: 'function' as const,
      function: {
        name: tool.name,
        ...(tool.description != null ? { description: tool.description } : {}),
        ...(tool.parameters != null ? { parameters: tool.parameters } : {}),
        ...(tool.strict != null ? { strict: tool.strict } : {}),
      },
    };
  });
}

function chatToolChoice(choice: ResponsesBody['tool_choice']): ChatBody['tool_choice'] {
  if (choice == null || typeof choice === 'string') return choice;
  return { type: 'function', function: { name: choice.name } };
}

/** `text.format` → the chat API's `response_format`. */
function responseFormat(text: ResponsesBody['text']): ChatBody['response_format'] {
  const format = text?.format;
  if (format === undefined || format.type === 'text') return undefined;
  if (format.type === 'json_object') return { type: 'json_object' };
  if (format.name === undefined)
    throw new AgentbusError('invalid_request', 'text.format.name is required for a json_schema format.', {
      param: 'text.format.name',
    });
  const { name, description, schema, strict } = format;
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

/** An error the chat checks raised, naming the Responses field instead of the chat one. */
function renamed(err: unknown, origins: string[]): unknown {
  if (!(err instanceof AgentbusError)) return err;
  const rename = (text: string) =>
    text
      .replace(/messages\[(\d+)\](\.content)?/g, (whole, index: string, content: string | undefined) => {
        const origin = origins[Number(index)];
        if (origin === undefined) return whole;
        return origin.startsWith('input[') ? `${origin}${content ?? ''}` : origin;
      })
      .replace(/^messages$/, 'input')
      .replace(/tools\[(\d+)\]\.function/g, 'tools[$1]')
      .replace(/\bresponse_format\b/g, 'text.format');
  return new AgentbusError(err.code, rename(err.message), {
    param: err.param === null ? null : rename(err.param),
    cause: err,
  });
}

/**
 * A validated Responses body as the chat pipeline's input: the same checks (unsupported
 * parameters, input limits, tools) and the same bus envelope as `/v1/chat/completions`, with
 * errors naming the Responses fields. `previous_response_id` is the session to continue (the
 * route passes it on); `store: false` keeps the answer out of memory.
 */
export function responsesToChatInput(body: ResponsesBody, stream: boolean, limits: InputLimits): ChatInput {
  rejectUnsupportedParameters(body, UNSUPPORTED_RESPONSES_PARAMETERS);
  if (body.store === false && body.previous_response_id != null)
    throw new AgentbusError(
      'invalid_request',
      '"store": false reads no stored history, so it cannot continue previous_response_id; leave store out.',
      { param: 'store' },
    );
  const { messages, origins } = translateInput(body);
  const chatBody: ChatBody = {
    model: body.model,
    messages,
    ...(body.temperature != null ? { temperature: body.temperature } : {}),
    ...(body.top_p != null ? { top_p: body.top_p } : {}),
    ...(body.reasoning?.effort != null ? { reasoning_effort: body.reasoning.effort } : {}),
    ...(body.max_output_tokens != null ? { max_completion_tokens: body.max_output_tokens } : {}),
    ...(body.user !== undefined ? { user: body.user } : {}),
    ...(body.metadata != null ? { metadata: body.metadata } : {}),
    ...(body.tools != null ? { tools: chatTools(body.tools) } : {}),
    ...(body.tool_choice != null ? { tool_choice: chatToolChoice(body.tool_choice) } : {}),
    ...(body.parallel_tool_calls != null ? { parallel_tool_calls: body.parallel_tool_calls } : {}),
    ...(body.text?.format !== undefined ? { response_format: responseFormat(body.text) ?? null } : {}),
  };
  try {
    const input = toChatInput(chatBody, stream, limits);
    return {
      ...input,
      idPrefix: RESPONSE_ID_PREFIX,
      ...(body.previous_response_id != null ? { previous_response_id: body.previous_response_id } : {}),
      ...(body.store === false ? { store: false } : {}),
    };
  } catch (err) {
    throw renamed(err, origins);
  }
}
