import { AgentbusError } from '../../bus-schemas/index.js';
import type { ChatCompletionRequest } from './chat-completion-request.schema.js';
import type { ResponsesBody, ResponsesInputItem, ResponsesInputPart } from './responses-request.schema.js';

type ChatMessage = ChatCompletionRequest['messages'][number];
type ChatPart = Extract<NonNullable<ChatMessage['content']>, unknown[]>[number];

/** Chat messages made from a Responses input, and where each came from (for error params). */
export interface TranslatedInput {
  messages: ChatMessage[];
  /** `origins[i]` is the Responses field that `messages[i]` was made from, e.g. `input[2]`. */
  origins: string[];
}

/** A message item's role, once checked present. */
type MessageRole = NonNullable<ResponsesInputItem['role']>;

const invalid = (message: string, param: string) => new AgentbusError('invalid_request', message, { param });

/**
 * The part types each role's messages may hold, in OpenAI's order: an assistant's are output
 * parts, everyone else's input parts. OpenAI refuses the others by name, and so does agentbus:
 * taken, an `output_text` on a user message would be stored and listed back as `input_text`.
 */
const ASSISTANT_PARTS: ReadonlyArray<ResponsesInputPart['type']> = ['output_text', 'refusal'];
const INPUT_PARTS: ReadonlyArray<ResponsesInputPart['type']> = ['input_text', 'input_image', 'input_file'];

/** A part of a type the role does not hold: OpenAI's 400, naming the part's type. */
function checkPartFitsRole(part: ResponsesInputPart, role: MessageRole, param: string): void {
  // Audio and reasoning text are refused by name below, whoever sent them.
  if (part.type === 'input_audio' || part.type === 'reasoning_text') return;
  const allowed = role === 'assistant' ? ASSISTANT_PARTS : INPUT_PARTS;
  if (allowed.includes(part.type)) return;
  const listed = allowed.map((type) => `'${type}'`);
  const supported =
    listed.length > 2 ? `${listed.slice(0, -1).join(', ')}, and ${listed.at(-1)}` : listed.join(' and ');
  const whose = role === 'assistant' ? 'an assistant' : `a ${role}`;
  throw invalid(
    `Invalid value: '${part.type}'. Supported values are: ${supported} (in ${whose} message).`,
    `${param}.type`,
  );
}

/** One content part → the chat API's part; the same checks then apply (normalize-messages.ts). */
function chatPart(part: ResponsesInputPart, role: MessageRole, param: string): ChatPart {
  checkPartFitsRole(part, role, param);
  switch (part.type) {
    case 'input_text':
    case 'output_text':
      if (typeof part.text !== 'string') throw invalid(`${param}.text is required for a text part`, `${param}.text`);
      return { type: 'text', text: part.text };
    case 'refusal':
      return { type: 'refusal', refusal: part.refusal ?? '' };
    case 'input_image':
      if (typeof part.image_url !== 'string')
        throw invalid(
          `${param}.image_url must be a base64 data URL (data:image/png;base64,…); file_id images are not supported`,
          `${param}.image_url`,
        );
      return { type: 'image_url', image_url: { url: part.image_url, ...(part.detail ? { detail: part.detail } : {}) } };
    case 'input_file':
      throw invalid(`${param}: file inputs are not supported; send the file's text as an input_text part`, param);
    case 'input_audio':
      throw invalid(`${param}: audio input is not supported by agentbus's model backends`, param);
    case 'reasoning_text':
      throw invalid(`${param}.type "reasoning_text" belongs in a reasoning item, not in a message`, `${param}.type`);
  }
}

function messageOf(item: ResponsesInputItem, at: string): ChatMessage {
  const { role } = item;
  if (role === undefined) throw invalid(`${at}.role is required for a message item`, `${at}.role`);
  if (item.content === undefined) throw invalid(`${at}.content is required for a message item`, `${at}.content`);
  const content =
    typeof item.content === 'string'
      ? item.content
      : item.content.map((part, index) => chatPart(part, role, `${at}.content[${index}]`));
  return { role, content };
}

/** A function call's output as the tool message's text: a string, or text parts joined. */
function outputText(output: NonNullable<ResponsesInputItem['output']>, at: string): string {
  if (typeof output === 'string') return output;
  return output
    .map((part, index) => {
      const param = `${at}.output[${index}]`;
      if (part.type !== 'input_text')
        throw invalid(
          `${param}.type "${part.type}" is not supported in a function call's output: send its text as input_text`,
          `${param}.type`,
        );
      if (typeof part.text !== 'string') throw invalid(`${param}.text is required for a text part`, `${param}.text`);
      return part.text;
    })
    .join('');
}

/** Function call items answer the previous assistant message: parallel calls are one message. */
function addFunctionCall(out: TranslatedInput, item: ResponsesInputItem, at: string): void {
  for (const field of ['call_id', 'name', 'arguments'] as const) {
    if (item[field] === undefined)
      throw invalid(`${at}.${field} is required for a function_call item`, `${at}.${field}`);
  }
  const call = {
    id: item.call_id!,
    type: 'function' as const,
    function: { name: item.name!, arguments: item.arguments! },
  };
  const last = out.messages.at(-1);
  if (last?.role === 'assistant') {
    last.tool_calls = [...(last.tool_calls ?? []), call];
    return;
  }
  out.messages.push({ role: 'assistant', content: null, tool_calls: [call] });
  out.origins.push(at);
}

/**
 * A Responses request's `instructions` and `input` as chat messages: `instructions` becomes the
 * system message, a string input one user message; `function_call` items become the assistant's
 * tool calls and `function_call_output` items tool messages; `reasoning` items are dropped. Unknown
 * item types are refused.
 */
export function translateInput(body: Pick<ResponsesBody, 'input' | 'instructions'>): TranslatedInput {
  const out: TranslatedInput = { messages: [], origins: [] };
  if (body.instructions != null && body.instructions !== '') {
    out.messages.push({ role: 'system', content: body.instructions });
    out.origins.push('instructions');
  }
  if (typeof body.input === 'string') {
    out.messages.push({ role: 'user', content: body.input });
    out.origins.push('input');
    return out;
  }
  body.input.forEach((item, index) => {
    const at = `input[${index}]`;
    switch (item.type ?? 'message') {
      case 'message':
        out.messages.push(messageOf(item, at));
        out.origins.push(at);
        return;
      case 'function_call':
        addFunctionCall(out, item, at);
        return;
      case 'reasoning':
        // Replayed thinking (the agents SDK sends it back): dropped, as memory keeps no thinking either.
        return;
      case 'function_call_output':
        if (item.call_id === undefined) throw invalid(`${at}.call_id is required`, `${at}.call_id`);
        if (item.output === undefined)
          throw invalid(`${at}.output must be a string or an array of text parts`, `${at}.output`);
        out.messages.push({ role: 'tool', tool_call_id: item.call_id, content: outputText(item.output, at) });
        out.origins.push(at);
        return;
      default:
        throw invalid(
          `${at}.type "${item.type}" is not supported: send messages, function_call, function_call_output ` +
            'and item_reference items',
          `${at}.type`,
        );
    }
  });
  return out;
}
