import type { ChatMessage } from '../bus-schemas/index.js';
import {
  toolCallNotFound,
  toolCallsUnanswered,
  toolResultAnswersNothing,
  toolResultDuplicate,
} from './tool-result-errors.js';

/**
 * Every `tool` message must answer a call of the assistant message before it (other tool results
 * and system messages may come between), once, and every call must be answered before the next
 * user or assistant message, and before the request ends, as OpenAI requires; else a 400 with OpenAI's
 * wording (a model asked to go on after its own unanswered call would answer as if it had a result).
 * `opening` holds the calls the results
 * that open the messages answer: a stored turn's (the worker), none, or undefined when they are
 * not known here (the gateway, for a session it cannot read), which leaves those results unchecked.
 */
export function checkToolResultOrder(messages: readonly ChatMessage[], opening: ReadonlySet<string> | undefined): void {
  // The ids the tool results may answer.
  let answerable = opening;
  // Calls of the last assistant message (or the opening ones) still without a result.
  const unanswered = new Set(opening);
  // Where each of those calls got its result: a second one is refused (a later turn may reuse an
  // id, as some models do).
  const results = new Map<string, number>();
  // The assistant message of the request whose calls `unanswered` holds.
  let calling = -1;
  messages.forEach((message, index) => {
    if (message.role === 'system') return;
    if (message.role !== 'tool') {
      if (unanswered.size > 0) throw toolCallsUnanswered(unanswered, index);
      answerable = new Set(message.role === 'assistant' ? (message.tool_calls ?? []).map((call) => call.id) : []);
      results.clear();
      answerable.forEach((id) => unanswered.add(id));
      calling = index;
      return;
    }
    const first = results.get(message.tool_call_id);
    if (first !== undefined) throw toolResultDuplicate(message.tool_call_id, first, index);
    results.set(message.tool_call_id, index);
    unanswered.delete(message.tool_call_id);
    if (answerable === undefined) return;
    if (answerable.size === 0) throw toolResultAnswersNothing(index);
    if (!answerable.has(message.tool_call_id)) throw toolCallNotFound(message.tool_call_id, index);
  });
  // The stored turn's calls too: the model would see a call of its own without its result.
  if (unanswered.size > 0) throw toolCallsUnanswered(unanswered, calling >= 0 ? calling : undefined);
}
