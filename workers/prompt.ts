import type { ChatMessage } from '../bus-schemas/index.js';
import type { Agent } from '../common/catalog.js';

/** True when the client sent its own conversation (assistant turns): it is honoured as-is. */
export function clientSentHistory(messages: readonly ChatMessage[]): boolean {
  return messages.some((message) => message.role === 'assistant');
}

/**
 * The messages this request adds to the conversation: everything after the last assistant
 * message, without system messages (those are instructions, not conversation). These are
 * stored with the turn and replayed as history later.
 */
export function newInputMessages(messages: readonly ChatMessage[]): ChatMessage[] {
  let start = 0;
  messages.forEach((message, index) => {
    if (message.role === 'assistant') start = index + 1;
  });
  return messages.slice(start).filter((message) => message.role !== 'system');
}

/**
 * The prompt sent to the model: agent system prompt, the agent's few-shot examples, stored
 * history, then the request. Examples come before history so they read as the agent's
 * standing behaviour, not as part of this conversation.
 */
export function buildPrompt(
  agent: Agent,
  history: readonly ChatMessage[],
  messages: readonly ChatMessage[],
): ChatMessage[] {
  const examples = agent.examples.flatMap((example): ChatMessage[] => [
    { role: 'user', content: example.user },
    { role: 'assistant', content: example.assistant },
  ]);
  return [{ role: 'system', content: agent.systemPrompt }, ...examples, ...history, ...messages];
}
