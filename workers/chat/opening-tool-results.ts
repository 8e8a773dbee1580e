import type { ChatMessage } from '../../bus-schemas/index.js';
import { checkToolResultOrder } from '../../common/tool-results.js';
import { toolCallCut, toolCallRepeated } from '../../common/tool-result-errors.js';

/**
 * Tool results that open a request continuing a session must answer the calls of its last stored
 * turn (the gateway checks those of a request's own history; memory is only here), and a user
 * message may follow only once every call has one, with the rules and wording of
 * common/tool-results.ts: a result that answers nothing would reach the model as a call it never
 * made, and calls left unanswered as a conversation an OpenAI-compatible backend refuses.
 */
export function checkOpeningToolResults(
  messages: readonly ChatMessage[],
  history: readonly ChatMessage[],
  cutCalls: readonly string[] = [],
): void {
  // A result for a call that was cut (memory leaves it out): say so, not that there is no call.
  for (const [index, message] of messages.entries()) {
    if (message.role === 'system') continue;
    if (message.role !== 'tool') break;
    if (cutCalls.includes(message.tool_call_id)) throw toolCallCut(message.tool_call_id, index);
  }
  const last = history.at(-1);
  const storedCalls = new Set(last?.role === 'assistant' ? (last.tool_calls ?? []).map((call) => call.id) : []);
  // A client that sends the stored turn's call back with its result (a Responses function_call item
  // beside previous_response_id) would read as a second call whose first went unanswered.
  const opening = messages.findIndex((message) => message.role !== 'system');
  const first = messages[opening];
  const repeated = first?.role === 'assistant' ? first.tool_calls?.find((call) => storedCalls.has(call.id)) : undefined;
  if (repeated) throw toolCallRepeated(repeated.id, opening);
  checkToolResultOrder(messages, storedCalls);
}
