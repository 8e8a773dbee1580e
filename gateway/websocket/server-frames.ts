import type { AgentbusError, DeltaFrame, DoneFrame } from '../../bus-schemas/index.js';
import { responseMeta } from '../openai/responses.js';
import type { ServerDeltaFrame, ServerDoneFrame, ServerErrorFrame } from './frames.schema.js';
import { retryAfterSeconds } from '../rate-limit/rate-limit-headers.js';

/** A bus delta as the client's `delta` frame. */
export function deltaFrame(id: string, seq: number, frame: DeltaFrame): ServerDeltaFrame {
  const out: ServerDeltaFrame = { type: 'delta', id, seq } as ServerDeltaFrame;
  if (frame.content !== undefined) out.content = frame.content;
  if (frame.tool_calls) out.tool_calls = frame.tool_calls;
  if (frame.reasoning !== undefined) out.reasoning = frame.reasoning;
  if (frame.refusal !== undefined) out.refusal = frame.refusal;
  return out;
}

/** A bus done as the client's `done` frame; `meta` is the one HTTP responses carry. */
export function doneFrame(id: string, seq: number, frame: DoneFrame, completionId: string): ServerDoneFrame {
  return {
    type: 'done',
    id,
    seq,
    finish_reason: frame.finish_reason,
    usage: frame.usage,
    meta: responseMeta(frame),
    conversation_id: frame.meta.conversation_id,
    completion_id: completionId,
  };
}

/**
 * An error in the OpenAI shape; `id` is null when it concerns the socket, not a request.
 * `retryAfter` (seconds) is HTTP's Retry-After: for a request the rate limiter refused, or
 * the error's own when it is retryable (an open circuit breaker's cooldown).
 */
export function errorFrame(
  id: string | null,
  error: AgentbusError,
  seq?: number,
  retryAfter?: number,
): ServerErrorFrame {
  // As over HTTP: a wait only for an error worth trying again.
  const own = error.retryable && error.retryAfterMs !== undefined ? retryAfterSeconds(error.retryAfterMs) : undefined;
  const wait = retryAfter ?? own;
  return {
    type: 'error',
    id,
    ...(seq === undefined ? {} : { seq }),
    error: error.toOpenAI().error,
    ...(wait === undefined ? {} : { retry_after: wait }),
  };
}
