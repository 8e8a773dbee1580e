import type { ChatMessage } from '../../bus-schemas/index.js';
import {
  toolCallNotFound,
  toolCallsUnanswered,
  toolResultAnswersNothing,
  toolResultDuplicate,
} from '../../common/tool-result-errors.js';

/**
 * Every `tool` message must answer a call of the assistant message before it (other tool results
 * and system messages may come between), and every call must be answered before the next user or
 * assistant message, as OpenAI requires; else a 400 with OpenAI's wording. A request may end with
 * calls still unanswered (nothing follows them). Tool
 * results that open the request answer the last stored turn of the session it continues: memory is
 * the worker's, which checks them against that turn's calls (workers/chat/opening-tool-results.ts);
 * none is read when the request carries its own history (an assistant message).
 */
export function checkToolResults(messages: readonly ChatMessage[], continuing: boolean): void {
  const ownHistory = messages.some((message) => message.role === 'assistant');
  // The ids the tool results may answer; undefined before the first user or assistant message.
  let answerable: ReadonlySet<string> | undefined;
  // Calls of the last assistant message still without a result.
  const unanswered = new Set<string>();
  // Where each call of the last assistant message got its result: a second one is refused (a later
  // turn may reuse an id, as some models do).
  const results = new Map<string, number>();
  messages.forEach((message, index) => {
    if (message.role === 'system') return;
    if (message.role !== 'tool') {
      if (unanswered.size > 0) throw toolCallsUnanswered(unanswered, index);
      answerable = new Set(message.role === 'assistant' ? (message.tool_calls ?? []).map((call) => call.id) : []);
      results.clear();
      answerable.forEach((id) => unanswered.add(id));
      return;
    }
    const first = results.get(message.tool_call_id);
    if (first !== undefined) throw toolResultDuplicate(message.tool_call_id, first, index);
    results.set(message.tool_call_id, index);
    unanswered.delete(message.tool_call_id);
    if (answerable === undefined && continuing && !ownHistory) return;
    if (!answerable?.size) throw toolResultAnswersNothing(index);
    if (!answerable.has(message.tool_call_id)) throw toolCallNotFound(message.tool_call_id, index);
  });
}
