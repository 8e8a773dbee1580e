import type { ChatMessage } from '../../bus-schemas/index.js';
import type { StoredHistoryRange } from './types.js';

/** A prompt, and where the history memory supplied sits in it. */
export interface TrimmablePrompt {
  messages: readonly ChatMessage[];
  storedHistory?: StoredHistoryRange | undefined;
}

/**
 * The prompt without its oldest stored turn: its input (user, system and developer messages), its
 * answer, and the tool results after it, up to the next turn's user or system message, so a call
 * never loses its results. The turn whose calls the request's opening tool results answer stays.
 * Undefined when nothing more can go: what is left is the client's own.
 */
export function withoutOldestTurn(prompt: TrimmablePrompt): TrimmablePrompt | undefined {
  const range = prompt.storedHistory;
  if (range === undefined || range.end <= range.start) return undefined;
  const { messages } = prompt;
  const answering = (at: number) => messages[at]!.role === 'assistant' || messages[at]!.role === 'tool';
  let next = range.start + 1;
  while (next < range.end && !answering(next)) next++;
  while (next < range.end && answering(next)) next++;
  // The last stored turn: kept when the request opens with results of its calls.
  if (next === range.end && messages[range.end]?.role === 'tool') return undefined;
  return {
    messages: [...messages.slice(0, range.start), ...messages.slice(next)],
    storedHistory: { start: range.start, end: range.end - (next - range.start) },
  };
}
