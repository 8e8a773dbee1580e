import type { ChatMessage, StoredTurn } from '../../bus-schemas/index.js';
import { splitTextParts } from '../../common/message-parts.js';
import { assistantMessage, chatCompletionObject } from './responses.js';
import { storedWords } from './stored-response.js';

/**
 * `GET /v1/chat/completions/{id}`: a stored turn as the `chat.completion` it was answered with.
 * Memory keeps the answer, usage, metadata and conversation, not the sampling settings or
 * thinking; `model` is the agent that answered (after a catalog fallback, not the one first named).
 */
export function storedChatCompletion(turn: StoredTurn) {
  const { content, refusal = '' } = storedWords(turn);
  const identity = { id: turn.request_id, created: turn.created_at, model: turn.agent };
  const message = assistantMessage({ content, refusal, reasoning: '', toolCalls: turn.tool_calls ?? [] });
  const usage = {
    prompt_tokens: turn.prompt_tokens,
    completion_tokens: turn.completion_tokens,
    total_tokens: turn.prompt_tokens + turn.completion_tokens,
  };
  return chatCompletionObject(identity, message, turn.finish_reason, usage, {
    metadata: turn.metadata ?? {},
    conversation_id: turn.session_id,
  });
}

/**
 * The words and the refusal of a stored assistant message: parts the model refused in (its
 * `refusal_parts`) are the refusal, the rest the content; null where there is none, as OpenAI sends it.
 */
function assistantWords(message: Extract<ChatMessage, { role: 'assistant' }>, parts: string[] | undefined) {
  const refused = message.refusal_parts ?? [];
  const texts = parts ?? [message.content];
  const said = refused.length === 0 ? message.content : texts.filter((_, i) => !refused.includes(i)).join('');
  const refusal = texts.filter((_, i) => refused.includes(i)).join('');
  return { content: said === '' && (message.tool_calls || refusal) ? null : said, refusal: refusal || null };
}

/** One stored message as OpenAI lists a stored completion's messages (`ChatCompletionStoreMessage`). */
function storeMessage(message: ChatMessage, id: string) {
  if (message.role === 'tool')
    return { id, role: 'tool' as const, content: message.content, tool_call_id: message.tool_call_id };
  const parts = splitTextParts(message.content, message.part_lengths);
  const shared = {
    id,
    role: message.role === 'system' && message.developer === true ? 'developer' : message.role,
    content: message.content as string | null,
    name: message.name ?? null,
    content_parts: parts ? parts.map((text) => ({ type: 'text' as const, text })) : null,
  };
  if (message.role !== 'assistant') return shared;
  return {
    ...shared,
    ...assistantWords(message, parts),
    ...(message.tool_calls ? { tool_calls: message.tool_calls } : {}),
  };
}

/**
 * The messages of a stored chat completion, oldest first: those its turn added (with a conversation,
 * the request's own messages; with history the client sent itself, what followed its last assistant
 * message), with ids `<completion id>-<n>` as OpenAI numbers them. Memory keeps no images.
 */
export function storedMessages(turn: StoredTurn): Array<{ id: string }> {
  return turn.input_messages.map((message, n) => storeMessage(message, `${turn.request_id}-${n}`));
}
