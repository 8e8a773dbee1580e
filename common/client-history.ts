import type { ChatMessage } from '../bus-schemas/index.js';

/** A request's messages, and how they add to its conversation. */
export interface RequestInput {
  readonly messages: readonly ChatMessage[];
  /** The Responses API's input: every message is new, assistant turns included (bus envelope `input_appends`). */
  readonly input_appends?: boolean | undefined;
  /** The first message is the Responses API's `instructions`, never stored (bus envelope `opens_with_instructions`). */
  readonly opens_with_instructions?: boolean | undefined;
}

/**
 * True when the client sent its own conversation (assistant turns in Chat Completions messages):
 * it is honoured as-is, with no stored history before it. The gateway's tool-result check and the
 * worker's history read both go by it, so the two never disagree about a request.
 */
export function clientSentHistory(request: RequestInput): boolean {
  return request.input_appends !== true && request.messages.some((message) => message.role === 'assistant');
}
