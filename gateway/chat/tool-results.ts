import type { ChatMessage } from '../../bus-schemas/index.js';
import { clientSentHistory } from '../../common/client-history.js';
import { checkToolResultOrder } from '../../common/tool-results.js';

/**
 * The tool results of a request, in the order OpenAI requires (common/tool-results.ts). Results
 * that open a request continuing a session answer its last stored turn: memory is the worker's,
 * which checks them against that turn's calls (workers/chat/opening-tool-results.ts). None is read
 * when the request carries its own history (an assistant message in Chat Completions), so there
 * they answer nothing; a Responses input adds to the stored history (`inputAppends`) whatever it holds.
 */
export function checkToolResults(messages: readonly ChatMessage[], continuing: boolean, inputAppends = false): void {
  const ownHistory = clientSentHistory({ messages, input_appends: inputAppends });
  checkToolResultOrder(messages, continuing && !ownHistory ? undefined : new Set());
}
