import type { ChatMessage, StoredTurn } from '../../bus-schemas/index.js';
import { splitTextParts } from '../../common/message-parts.js';
import { assistantMessage } from './responses.js';
import { storedWords } from './stored-response.js';

/**
 * `GET /v1/chat/completions/{id}`: a stored turn as the `chat.completion` it was answered with.
 * Memory keeps the answer, usage, metadata and conversation, not the sampling settings or
 * thinking; `model` is the agent asked, as in the answer.
 */
export function storedChatCompletion(turn: StoredTurn) {
  const { content, refusal = '' } = storedWords(turn);
  return {
    id: turn.request_id,
    object: 'chat.completion' as const,
    created: turn.created_at,
    model: turn.agent,
    system_fingerprint: null,
    choices: [
      {
        index: 0,
        message: assistantMessage({ content, refusal, reasoning: '', toolCalls: turn.tool_calls ?? [] }),
        logprobs: null,
        finish_reason: turn.finish_reason,
      },
    ],
    usage: {
      prompt_tokens: turn.prompt_tokens,
      completion_tokens: turn.completion_tokens,
      total_tokens: turn.prompt_tokens + turn.completion_tokens,
    },
    metadata: turn.metadata ?? {},
    conversation_id: turn.session_id,
  };
}

/** One stored message as OpenAI lists a stored completion's messages (`chat.completion` store messages). */
function storeMessage(message: ChatMessage, id: string) {
  const name = 'name' in message && message.name !== undefined ? { name: message.name } : {};
  if (message.role === 'tool')
    return { id, role: 'tool' as const, content: message.content, tool_call_id: message.tool_call_id };
  const parts = splitTextParts(message.content, message.part_lengths);
  const role = message.role === 'system' && message.developer === true ? 'developer' : message.role;
  return {
    id,
    role,
    content: message.content,
    ...name,
    ...(message.role === 'assistant' && message.tool_calls ? { tool_calls: message.tool_calls } : {}),
    content_parts: parts ? parts.map((text) => ({ type: 'text' as const, text })) : null,
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
