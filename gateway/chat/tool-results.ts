import { clientSentHistory, type RequestInput } from '../../common/client-history.js';
import { checkToolResultOrder } from '../../common/tool-results.js';

/**
 * The tool results of a request, in the order OpenAI requires (common/tool-results.ts). Results
 * that open a request continuing a session answer its last stored turn: memory is the worker's,
 * which checks them against that turn's calls (workers/chat/opening-tool-results.ts). None is read
 * when the request carries its own history (an assistant message in Chat Completions), so there
 * they answer nothing; a Responses input adds to the stored history (`input_appends`) whatever it holds.
 */
export function checkToolResults(request: RequestInput, continuing: boolean): void {
  checkToolResultOrder(request.messages, continuing && !clientSentHistory(request) ? undefined : new Set());
}
