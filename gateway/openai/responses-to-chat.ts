import { AgentbusError } from '../../bus-schemas/index.js';
import { toolResultErrorInResponses } from '../../common/tool-result-errors.js';
import type { ChatInput } from '../chat/types.js';
import { ID_PREFIXES } from '../chat/id-prefixes.js';
import type { ChatBody } from './chat-completion-request.schema.js';
import type { InputLimits } from './input-limits.js';
import { translateInput, type TranslatedInput } from './responses-input.js';
import type { ResponsesBody } from './responses-request.schema.js';
import { CHAT_FIELDS_ON_RESPONSES } from './other-api-fields.js';
import { namingContinued } from './conversation-to-continue.js';
import { UNSUPPORTED_RESPONSES_PARAMETERS } from './responses-unsupported.js';
import { checkStreamOptions, toChatInput } from './to-chat-input.js';
import { rejectUnsupportedParameters } from './unsupported-parameters.js';

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

const noTools = (body: ResponsesBody) => body.tools == null || body.tools.length === 0;

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

// Chat fields that are named otherwise in a Responses body (worker errors name them too).
const FIELD_NAMES: ReadonlyArray<[RegExp, string]> = [
  [/tools\[(\d+)\]\.function/g, 'tools[$1]'],
  // text.format holds json_schema's fields itself (name, schema, strict).
  [/\bresponse_format\.json_schema\b/g, 'text.format'],
  [/\bresponse_format\b/g, 'text.format'],
  [/\breasoning_effort\b/g, 'reasoning.effort'],
  [/\bmax_(completion_)?tokens\b/g, 'max_output_tokens'],
];

/**
 * An error raised on the translated request (by the chat checks, the pipeline or a worker),
 * naming the Responses field instead of the chat one: `messages[i]` is the item it came from (a
 * tool message's `content` and `tool_call_id` its function_call_output's `output` and `call_id`, the
 * assistant message of function_call items that item),
 * an image part's `image_url.url` the plain `image_url` string. The error itself when nothing is renamed.
 */
function renamed(err: unknown, { messages, origins }: TranslatedInput): unknown {
  if (!(err instanceof AgentbusError)) return err;
  // `.tool_calls…` (input-limits.ts, normalize-messages.ts) is swallowed whole: calls are items of their own here.
  const message = /messages\[(\d+)\](\.content|\.role|\.tool_call_id|\.tool_calls(?:\[\d+\])?(?:\.[A-Za-z_]+)*)?/g;
  const rename = (text: string) =>
    FIELD_NAMES.reduce(
      (out, [pattern, name]) => out.replace(pattern, name),
      text
        .replace(message, (whole, index: string, field: string | undefined) => {
          const origin = origins[Number(index)];
          if (origin === undefined) return whole;
          if (!origin.startsWith('input[')) return origin;
          const made = messages[Number(index)];
          // Made of function_call items, which have no role, or naming its calls (a Responses
          // message has no tool_calls field: its calls are the function_call items): the item itself.
          if (made?.role === 'assistant' && (made.content === null || field?.startsWith('.tool_calls'))) return origin;
          if (made?.role !== 'tool' || field === undefined) return `${origin}${field ?? ''}`;
          return `${origin}${field === '.content' ? '.output' : '.call_id'}`;
        })
        .replace(/^messages$/, 'input')
        .replace(/(\.content\[\d+\]\.image_url)\.url\b/g, '$1'),
    );
  const param = err.param === null ? null : rename(err.param);
  // A tool result's refusal in the Responses API's own words (function call outputs, call_id).
  const about = /^messages\[(\d+)\]/.exec(err.param ?? '')?.[1];
  const tool = about === undefined ? undefined : messages[Number(about)];
  const callId = tool?.role === 'tool' ? tool.tool_call_id : undefined;
  const text = toolResultErrorInResponses(err.message, callId) ?? rename(err.message);
  if (param === err.param && text === err.message) return err;
  return err.restated({ message: text, param });
}

/**
 * What an error of a Responses request says in the Responses terms, whenever it is raised after
 * the translation (starting the chat, or by the worker): the response or conversation it continues
 * named (conversation-to-continue.ts), and the Responses fields for the chat ones ({@link renamed}).
 */
export function inResponsesTerms(err: unknown, body: ResponsesBody): unknown {
  const named = namingContinued(err, body);
  let translated: TranslatedInput;
  try {
    translated = translateInput(body);
  } catch {
    translated = { messages: [], origins: [] };
  }
  return renamed(named, translated);
}

/**
 * A validated Responses body as the chat pipeline's input: the same checks (unsupported
 * parameters, input limits, tools) and the same bus envelope as `/v1/chat/completions`, with
 * errors naming the Responses fields. `previous_response_id` or `conversation` is the session to
 * continue (checked before, by sessionToContinueOf); `store: false` keeps the answer out of memory.
 */
export function responsesToChatInput(body: ResponsesBody, stream: boolean, limits: InputLimits): ChatInput {
  rejectUnsupportedParameters(body, CHAT_FIELDS_ON_RESPONSES);
  rejectUnsupportedParameters(body, UNSUPPORTED_RESPONSES_PARAMETERS);
  // As on Chat Completions: options for a stream that was not asked for are a mistake, not a no-op.
  checkStreamOptions({ stream_options: body['stream_options'] }, stream);
  const translated = translateInput(body);
  const { messages } = translated;
  if (messages.length === 0)
    throw new AgentbusError(
      'invalid_request',
      'The input holds nothing to answer: reasoning items are dropped (memory keeps no thinking); ' +
        'send a message or a function_call_output.',
      { param: 'input' },
    );
  const chatBody: ChatBody = {
    model: body.model,
    messages,
    ...(body.temperature != null ? { temperature: body.temperature } : {}),
    ...(body.top_p != null ? { top_p: body.top_p } : {}),
    ...(body.reasoning?.effort != null ? { reasoning_effort: body.reasoning.effort } : {}),
    ...(body.max_output_tokens != null ? { max_completion_tokens: body.max_output_tokens } : {}),
    ...(body.user != null ? { user: body.user } : {}),
    ...(body.metadata != null ? { metadata: body.metadata } : {}),
    // Unlike Chat Completions, the Responses API takes `tools: []` and a tool_choice of "auto" or
    // "none" without tools (its own echo shows them): nothing to call, so nothing to pass on.
    ...(body.tools != null && body.tools.length > 0 ? { tools: chatTools(body.tools) } : {}),
    ...(body.tool_choice != null && !(noTools(body) && (body.tool_choice === 'auto' || body.tool_choice === 'none'))
      ? { tool_choice: chatToolChoice(body.tool_choice) }
      : {}),
    ...(body.parallel_tool_calls != null ? { parallel_tool_calls: body.parallel_tool_calls } : {}),
    ...(body.text?.format !== undefined ? { response_format: responseFormat(body.text) ?? null } : {}),
    ...(body.text?.verbosity != null ? { verbosity: body.text.verbosity } : {}),
    ...(body.service_tier != null ? { service_tier: body.service_tier } : {}),
  };
  try {
    const input = toChatInput(chatBody, stream, limits);
    return {
      ...input,
      idPrefix: ID_PREFIXES.response,
      // Input items add to the chain of responses, earlier turns given as items too (OpenAI keeps them all).
      input_appends: true,
      ...(translated.origins[0] === 'instructions' ? { opens_with_instructions: true } : {}),
      ...(body.previous_response_id != null ? { previous_response_id: body.previous_response_id } : {}),
      ...(body.store === false ? { store: false } : {}),
    };
  } catch (err) {
    throw renamed(err, translated);
  }
}
