import type { ChatMessage, StoredTurn } from '../../bus-schemas/index.js';
import { splitTextParts } from '../../common/message-parts.js';
import { outputItems, responseShape, responsesUsage, statusOf, type ResponseEcho } from './responses-object.js';

/**
 * What a stored response repeats of its request: memory keeps the input, the answer, the
 * metadata, user and previous_response_id, not the sampling settings or tools (OpenAI's defaults).
 */
function storedEcho(turn: StoredTurn): ResponseEcho {
  return {
    conversation: { id: turn.session_id },
    instructions: null,
    max_output_tokens: null,
    metadata: turn.metadata ?? {},
    parallel_tool_calls: true,
    previous_response_id: turn.previous_response_id ?? null,
    reasoning: { effort: null, summary: null },
    store: true,
    temperature: null,
    text: { format: { type: 'text' } },
    tool_choice: 'auto',
    tools: [],
    top_p: null,
    truncation: 'disabled',
    user: turn.user ?? null,
  };
}

/**
 * The text and the refusal of a stored answer: memory keeps a refusal at the end of the answer's
 * words too (history replays them); one the model mixed with its text reads as text.
 */
export function storedWords(turn: StoredTurn): { content: string; refusal?: string } {
  const { assistant_response: words, refusal } = turn;
  if (refusal === undefined || refusal === '' || !words.endsWith(refusal)) return { content: words };
  return { content: words.slice(0, words.length - refusal.length), refusal };
}

/** `GET /v1/responses/{id}`: a stored turn as the `response` object it was answered with. */
export function storedResponseObject(turn: StoredTurn) {
  const identity = { id: turn.request_id, created: turn.created_at, model: turn.agent };
  const output = outputItems(turn.request_id, {
    ...storedWords(turn),
    toolCalls: turn.tool_calls ?? [],
    finishReason: turn.finish_reason,
  });
  return responseShape(identity, storedEcho(turn), output, {
    status: statusOf(turn.finish_reason),
    finishReason: turn.finish_reason,
    usage: responsesUsage({
      prompt_tokens: turn.prompt_tokens,
      completion_tokens: turn.completion_tokens,
      total_tokens: turn.prompt_tokens + turn.completion_tokens,
    }),
    extra: { conversation_id: turn.session_id },
  });
}

const textPart = (role: ChatMessage['role'], text: string) =>
  role === 'assistant'
    ? { type: 'output_text' as const, text, annotations: [] }
    : { type: 'input_text' as const, text };

/**
 * The content's text parts as the client sent them: split at `part_lengths` when they fit the
 * content (one part otherwise, as for a message sent as a string).
 */
function textsOf(message: Exclude<ChatMessage, { role: 'tool' }>): string[] {
  return splitTextParts(message.content, message.part_lengths) ?? [message.content];
}

/** One stored input message as Responses input items (an assistant's tool calls are items of their own). */
function itemsOf(message: ChatMessage, id: (kind: string) => string) {
  if (message.role === 'tool')
    return [
      {
        id: id('fco'),
        type: 'function_call_output' as const,
        status: 'completed' as const,
        call_id: message.tool_call_id ?? '',
        output: message.content,
      },
    ];
  const calls = message.role === 'assistant' ? (message.tool_calls ?? []) : [];
  const items: object[] = [];
  if (message.content !== '' || calls.length === 0)
    items.push({
      id: id('msg'),
      type: 'message' as const,
      status: 'completed' as const,
      role: message.role === 'system' && message.developer === true ? 'developer' : message.role,
      content: textsOf(message).map((text, index) =>
        message.role === 'assistant' && message.refusal_parts?.includes(index)
          ? { type: 'refusal' as const, refusal: text }
          : textPart(message.role, text),
      ),
    });
  for (const call of calls)
    items.push({
      id: id('fc'),
      type: 'function_call' as const,
      status: 'completed' as const,
      call_id: call.id,
      name: call.function.name,
      arguments: call.function.arguments,
    });
  return items;
}

/**
 * The input items of a stored response, oldest first: the messages its turn added (memory keeps
 * no instructions and no images), in the roles and text parts they were sent with, with ids derived
 * from the response id.
 */
export function storedInputItems(turn: StoredTurn): Array<{ id: string }> {
  const base = turn.request_id.replace(/^resp_/, '');
  let n = 0;
  return turn.input_messages.flatMap((message) => itemsOf(message, (kind) => `${kind}_${base}_in${n++}`)) as Array<{
    id: string;
  }>;
}
