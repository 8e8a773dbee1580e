import { createHash, randomBytes } from 'node:crypto';
import type { ToolCall, UnsequencedFrame, Usage } from '../../bus-schemas/index.js';
import type { FinishReason, ProviderToolCall } from '../providers/index.js';

// A non-streamed answer still travels in pieces: one NATS message must stay far below any
// server's max_payload (1 MB by default), whatever the model produced.
const MAX_DELTA_CHARS = 64 * 1024;

/** A finished answer: what is stored, cached and summed up in `done`. */
export interface Answer {
  content: string;
  toolCalls: ToolCall[];
  finishReason: FinishReason;
  usage: Usage;
  /** The model refused (OpenAI's `refusal`): its words, which are in `content` too (at its end, when sent apart). */
  refusal?: string;
}

type Send = (frame: UnsequencedFrame) => void;

function* pieces(text: string): Generator<string> {
  for (let i = 0; i < text.length; i += MAX_DELTA_CHARS) yield text.slice(i, i + MAX_DELTA_CHARS);
}

/**
 * Sends one tool call as OpenAI streams it: a first fragment with index, id, type, name and
 * empty arguments, then the arguments in fragments.
 */
export function sendToolCall(send: Send, index: number, call: ToolCall): void {
  send({
    type: 'delta',
    tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.function.name, arguments: '' } }],
  });
  for (const fragment of pieces(call.function.arguments))
    send({ type: 'delta', tool_calls: [{ index, function: { arguments: fragment } }] });
}

/**
 * Sends a whole answer as deltas (non-streamed requests, cache hits): thinking first, if any; a
 * refusal to send apart after the text.
 */
export function sendAnswer(
  send: Send,
  answer: Pick<Answer, 'content' | 'toolCalls'> & { reasoning?: string; refusal?: string },
): void {
  for (const fragment of pieces(answer.reasoning ?? '')) send({ type: 'delta', reasoning: fragment });
  for (const fragment of pieces(answer.content)) send({ type: 'delta', content: fragment });
  for (const fragment of pieces(answer.refusal ?? '')) send({ type: 'delta', refusal: fragment });
  answer.toolCalls.forEach((call, index) => sendToolCall(send, index, call));
}

const newCallId = () => `call_${randomBytes(12).toString('base64url')}`;

/** Gives a backend's tool call the id OpenAI clients need to answer it. */
export function withCallId(call: ProviderToolCall): ToolCall {
  return { id: call.id ?? newCallId(), type: 'function', function: { name: call.name, arguments: call.arguments } };
}

/**
 * A cached answer's calls made again for request `requestId`: ids of their own, as each answer's
 * calls are new, derived from the request id and place, so a redelivered request gets the same ones.
 */
export const withCallIdsOf = (requestId: string, calls: readonly ToolCall[]): ToolCall[] =>
  calls.map((call, index) => ({
    ...call,
    id: `call_${createHash('sha256').update(`${requestId}\n${index}`).digest('base64url').slice(0, 16)}`,
  }));
