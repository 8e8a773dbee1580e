import type { ChatMessage } from '../../bus-schemas/index.js';

type AssistantMessage = Extract<ChatMessage, { role: 'assistant' }>;

/** The assistant message without the calls no result answered; without any, a plain answer. */
function keepAnswered(message: AssistantMessage, unanswered: ReadonlySet<string>): AssistantMessage {
  const kept = (message.tool_calls ?? []).filter((call) => !unanswered.has(call.id));
  if (kept.length > 0) return { ...message, tool_calls: kept };
  const { tool_calls: _calls, ...plain } = message;
  return plain;
}

/**
 * Stored turns as a message sequence an OpenAI-compatible backend takes: each `tool` message right
 * after the calls it answers, and every call answered before the conversation goes on. Memory's
 * window can start just after a turn that made calls (its results then answer nothing), and two
 * requests answering one call at the same moment are both stored: such a result is left out, and a
 * call no result followed loses its place in the assistant message. The newest answer's calls stay:
 * the request being answered carries their results.
 */
export function replayableHistory(messages: readonly ChatMessage[]): ChatMessage[] {
  const out: ChatMessage[] = [];
  // The last assistant message with calls, and those of its calls no result has answered yet.
  let open: { index: number; unanswered: Set<string> } | undefined;
  for (const message of messages) {
    if (message.role === 'tool') {
      if (open?.unanswered.delete(message.tool_call_id)) out.push(message);
      continue;
    }
    if (open && open.unanswered.size > 0)
      out[open.index] = keepAnswered(out[open.index] as AssistantMessage, open.unanswered);
    open = undefined;
    out.push(message);
    if (message.role === 'assistant' && message.tool_calls && message.tool_calls.length > 0)
      open = { index: out.length - 1, unanswered: new Set(message.tool_calls.map((call) => call.id)) };
  }
  return out;
}
