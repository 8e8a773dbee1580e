import type { InputLimits } from '../openai/input-limits.js';
import type { ChatInput } from '../chat/types.js';
import { sessionToContinueOf } from '../openai/conversation-to-continue.js';
import { checkedInputItems } from '../openai/duplicate-items.js';
import { responseEcho, type ResponseEcho } from '../openai/responses-object.js';
import type { ResponsesBody } from '../openai/responses-request.schema.js';
import { responsesToChatInput } from '../openai/responses-to-chat.js';
import type { ReadStoredTurn } from '../openai/stored-turn-reader.js';
import { toChatInput } from '../openai/to-chat-input.js';
import { chatBodyOf } from './chat-frame-body.js';
import type { ChatFrame, ResponseCreateFrame } from './frames.schema.js';
import { responsesBodyOf } from './response-frame-body.js';

/** A request frame checked and put in the chat pipeline's terms. */
export type RequestInput =
  | { type: 'chat'; frame: ChatFrame; input: ChatInput }
  | {
      type: 'response.create';
      frame: ResponseCreateFrame;
      input: ChatInput;
      echo: ResponseEcho;
      /** The frame's Responses body: later errors name its fields instead of the chat ones. */
      body: ResponsesBody;
      /** The response or conversation it continues (see sessionToContinueOf). */
      continued: string | undefined;
    };

/**
 * The chat input of a `chat` or `response.create` frame (its stored `item_reference`s read with
 * `storedTurns`, its items checked for duplicates); throws the 400 the same HTTP body gets.
 */
export async function requestInputOf(
  frame: ChatFrame | ResponseCreateFrame,
  limits: InputLimits,
  storedTurns: ReadStoredTurn,
): Promise<RequestInput> {
  // Both show a refusal apart: a `delta` frame's `refusal`, the Responses events' refusal part.
  if (frame.type === 'chat')
    return { type: 'chat', frame, input: { ...toChatInput(chatBodyOf(frame), true, limits), refusal_deltas: true } };
  // Checked before the items are read: a wrong kind of id is a 400, not a memory read.
  const continued = sessionToContinueOf(frame);
  const body = await checkedInputItems(responsesBodyOf(frame), storedTurns, limits.maxMessages);
  const input = { ...responsesToChatInput(body, true, limits), refusal_deltas: true };
  return { type: 'response.create', frame, input, echo: responseEcho(body), body, continued };
}
