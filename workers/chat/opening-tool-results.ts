import type { ChatMessage } from '../../bus-schemas/index.js';
import {
  toolCallNotFound,
  toolCallsUnanswered,
  toolResultAnswersNothing,
  toolResultDuplicate,
} from '../../common/tool-result-errors.js';

/**
 * Tool results that open a request continuing a session must answer the calls of its last stored
 * turn, as OpenAI requires of a conversation's results (the gateway checks those of a request's
 * own history; memory is only here), and a user message may follow only once every call has one.
 * A 400 with OpenAI's wording otherwise: a result that answers nothing would reach the model as a
 * call it never made, and calls left unanswered as a conversation an OpenAI-compatible backend refuses.
 */
export function checkOpeningToolResults(messages: readonly ChatMessage[], history: readonly ChatMessage[]): void {
  const last = history.at(-1);
  const calls = new Set(last?.role === 'assistant' ? (last.tool_calls ?? []).map((call) => call.id) : []);
  const unanswered = new Set(calls);
  const results = new Map<string, number>();
  for (const [index, message] of messages.entries()) {
    if (message.role === 'system') continue;
    if (message.role !== 'tool') {
      // A conversation goes on only once every call has its result; a request may end before.
      if (unanswered.size > 0) throw toolCallsUnanswered(unanswered, index);
      return;
    }
    if (calls.size === 0) throw toolResultAnswersNothing(index);
    if (!calls.has(message.tool_call_id)) throw toolCallNotFound(message.tool_call_id, index);
    const first = results.get(message.tool_call_id);
    if (first !== undefined) throw toolResultDuplicate(message.tool_call_id, first, index);
    results.set(message.tool_call_id, index);
    unanswered.delete(message.tool_call_id);
  }
}
