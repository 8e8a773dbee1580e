import { cutShort, type DoneFrame, type ToolCall, type Usage } from '../../bus-schemas/index.js';
import type { ChatIdentity } from '../chat/types.js';
import type { ResponsesBody } from './responses-request.schema.js';
import { conversationOf } from './conversation-to-continue.js';
import { responseMeta } from './responses.js';

/** What the Responses API repeats of its request in every response object. */
export type ResponseEcho = ReturnType<typeof responseEcho>;

/**
 * The request fields a response object repeats, with OpenAI's defaults where not sent; sampling
 * settings not sent stay null, as the agent's catalog options apply, not OpenAI's defaults.
 */
export function responseEcho(body: ResponsesBody) {
  const conversation = conversationOf(body);
  return {
    // The conversation the request named; the finished response names the one it was stored in.
    conversation: conversation === undefined ? null : { id: conversation },
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    metadata: body.metadata ?? {},
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    previous_response_id: body.previous_response_id ?? null,
    reasoning: { effort: body.reasoning?.effort ?? null, summary: body.reasoning?.summary ?? null },
    store: body.store ?? true,
    temperature: body.temperature ?? null,
    text: {
      format: body.text?.format ?? { type: 'text' },
      ...(body.text?.verbosity != null ? { verbosity: body.text.verbosity } : {}),
    },
    tool_choice: body.tool_choice ?? 'auto',
    tools: (body.tools ?? []).map((tool) => ({ strict: null, description: null, parameters: null, ...tool })),
    top_p: body.top_p ?? null,
    truncation: 'disabled' as const,
    user: body.user ?? null,
  };
}

/** The id of the response's message item: derived from the response id, so a stored one reads the same. */
export const messageItemId = (responseId: string) => `msg_${responseId.replace(/^resp_/, '')}`;
/** The id of the response's function call item `index`. */
export const functionCallItemId = (responseId: string, index: number) =>
  `fc_${responseId.replace(/^resp_/, '')}_${index}`;

/** A message's status: `incomplete` when max_output_tokens or a content filter cut the answer, as OpenAI marks it. */
export type MessageStatus = 'in_progress' | 'completed' | 'incomplete';

/** A message with these content parts (none while in progress, as OpenAI's `added` item has). */
export function messageItem(id: string, parts: MessagePart[], status: MessageStatus = 'completed') {
  return {
    id,
    type: 'message' as const,
    status,
    role: 'assistant' as const,
    content: status === 'in_progress' ? [] : parts,
  };
}

/** The id of the response's reasoning item (a reasoning model's thinking). */
export const reasoningItemId = (responseId: string) => `rs_${responseId.replace(/^resp_/, '')}`;

export const reasoningText = (text: string) => ({ type: 'reasoning_text' as const, text });

/** The thinking of a reasoning model, apart from the answer, as OpenAI returns open models' reasoning. */
export function reasoningItem(id: string, text: string, status: MessageStatus = 'completed') {
  return {
    id,
    type: 'reasoning' as const,
    status,
    summary: [],
    content: status === 'in_progress' ? [] : [reasoningText(text)],
  };
}

export const outputText = (text: string) => ({ type: 'output_text' as const, text, annotations: [], logprobs: [] });

/** The model's refusal to answer (OpenAI's `refusal`), a part of the message apart from its text. */
export const refusalPart = (refusal: string) => ({ type: 'refusal' as const, refusal });

export type MessagePart = ReturnType<typeof outputText> | ReturnType<typeof refusalPart>;

/** A whole message's parts: its text, then its refusal; only the refusal when it said nothing else. */
export function messageParts(text: string, refusal = ''): MessagePart[] {
  if (refusal === '') return [outputText(text)];
  return text === '' ? [refusalPart(refusal)] : [outputText(text), refusalPart(refusal)];
}

/** A function call; `incomplete` when a token limit cut its arguments (a forced call's), as a message is. */
export function functionCallItem(id: string, call: ToolCall, status: MessageStatus = 'completed') {
  return {
    id,
    type: 'function_call' as const,
    status,
    call_id: call.id,
    name: call.function.name,
    arguments: call.function.arguments,
  };
}

export type OutputItem =
  ReturnType<typeof messageItem> | ReturnType<typeof functionCallItem> | ReturnType<typeof reasoningItem>;

/** A whole answer, as output items are made of it. */
export interface AnswerOutput {
  content: string;
  toolCalls: ToolCall[];
  reasoning?: string;
  /** The model's refusal, apart from the text. */
  refusal?: string;
  finishReason?: string;
}

/**
 * The output items of a whole answer: its thinking (if any), its text and refusal as a message (if
 * any), then its tool calls. `finishReason` "length" or "content_filter" marks the message and the
 * last call `incomplete`.
 */
export function outputItems(responseId: string, answer: AnswerOutput): OutputItem[] {
  const { content, toolCalls, reasoning = '', refusal = '', finishReason = 'stop' } = answer;
  const items: OutputItem[] = [];
  if (reasoning !== '') items.push(reasoningItem(reasoningItemId(responseId), reasoning));
  const status = statusOf(finishReason);
  if (content !== '' || refusal !== '' || toolCalls.length === 0)
    items.push(messageItem(messageItemId(responseId), messageParts(content, refusal), status));
  // Only the last call can have been cut: the limit ended the answer there.
  toolCalls.forEach((call, index) =>
    items.push(
      functionCallItem(
        functionCallItemId(responseId, index),
        call,
        index === toolCalls.length - 1 ? status : 'completed',
      ),
    ),
  );
  return items;
}

export function responsesUsage(usage: Usage) {
  return {
    input_tokens: usage.prompt_tokens,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: usage.completion_tokens,
    // 0 where the backend does not count thinking apart (Ollama): nothing is estimated.
    output_tokens_details: { reasoning_tokens: usage.completion_tokens_details?.reasoning_tokens ?? 0 },
    total_tokens: usage.total_tokens,
  };
}

export type ResponseStatus = 'in_progress' | 'completed' | 'incomplete' | 'failed';

/** How a response ended, as its object shows it; absent while it is in progress. */
export interface ResponseEnd {
  status: Exclude<ResponseStatus, 'in_progress'>;
  /** The answer's finish reason: what cut an `incomplete` one. */
  finishReason?: string;
  error?: { code: string; message: string };
  usage?: ReturnType<typeof responsesUsage>;
  /** agentbus's own fields (`conversation_id`, `meta`). */
  extra?: Record<string, unknown>;
}

/** A `response` object, in progress or ended. */
export function responseShape(identity: ChatIdentity, echo: ResponseEcho, output: OutputItem[], end?: ResponseEnd) {
  const status: ResponseStatus = end?.status ?? 'in_progress';
  return {
    id: identity.id,
    object: 'response' as const,
    created_at: identity.created,
    status,
    error: end?.error ?? null,
    incomplete_details: status === 'incomplete' ? { reason: incompleteReasonOf(end?.finishReason) } : null,
    model: identity.model,
    output,
    ...echo,
    usage: end?.usage ?? null,
    ...end?.extra,
  };
}

/** The status of an answer that ended with `finish_reason`. */
export const statusOf = (finishReason: string) => (cutShort(finishReason) ? 'incomplete' : 'completed');

/** Why an `incomplete` response stopped, in the Responses API's words. */
const incompleteReasonOf = (finishReason: string | undefined) =>
  finishReason === 'content_filter' ? ('content_filter' as const) : ('max_output_tokens' as const);

/**
 * A `response` object; a done frame adds status, usage, the conversation it was stored in and
 * agentbus's `conversation_id` and `meta`.
 */
export function responseObject(
  identity: ChatIdentity,
  echo: ResponseEcho,
  output: OutputItem[],
  end?: { done: DoneFrame } | { error: { code: string; message: string } },
) {
  if (end === undefined) return responseShape(identity, echo, output);
  if ('error' in end) return responseShape(identity, echo, output, { status: 'failed', error: end.error });
  const { done } = end;
  return responseShape(identity, echo, output, {
    status: statusOf(done.finish_reason),
    finishReason: done.finish_reason,
    usage: responsesUsage(done.usage),
    extra: {
      // As OpenAI's: a stored response's input and answer were added to this conversation.
      ...(echo.store ? { conversation: { id: done.meta.conversation_id } } : {}),
      conversation_id: done.meta.conversation_id,
      meta: responseMeta(done),
    },
  });
}
