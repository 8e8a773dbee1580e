import type { ChatMessage } from '../../bus-schemas/index.js';
import { checkToolResultOrder } from '../../common/tool-results.js';

/**
 * The tool results of a request, in the order OpenAI requires (common/tool-results.ts). Results
 * that open a request continuing a session answer its last stored turn: memory is the worker's,
 * which checks them against that turn's calls (workers/chat/opening-tool-results.ts). None is read
 * when the request carries its own history (an assistant message), so there they answer nothing.
 */
export function checkToolResults(messages: readonly ChatMessage[], continuing: boolean): void {
  const ownHistory = messages.some((message) => message.role === 'assistant');
  checkToolResultOrder(messages, continuing && !ownHistory ? undefined : new Set());
}
