import { AgentbusError } from '../../bus-schemas/index.js';
import { systemClock, type Clock } from '../../common/clock.js';
import { earliestRetry } from '../call/earliest-retry.js';
import { earlierAttempts } from '../call/earlier-attempts.js';
import { retriedHere } from '../call/retried-here.js';

// Below this, a second attempt could not finish anything: end with the first error instead.
const MIN_ATTEMPT_MS = 100;

// Errors of an opening a worker had taken (voice-call.ts): asking another would run the work twice.
const taken = new WeakSet<AgentbusError>();

/** Marks `error` as one of an opening a worker took: it is never retried. */
export function workerTookIt(error: AgentbusError): AgentbusError {
  taken.add(error);
  return error;
}

export interface OpenRetryOptions<R extends { timeout_ms: number }, T> {
  request: R;
  /** The client's leaving: no second attempt for nobody. */
  signal: AbortSignal;
  /** One attempt at the call's opening; the second gets what is left of the request's limit. */
  open(request: R, attempt: 1 | 2): Promise<T>;
  /** Told before the second attempt, for the log. */
  onRetry?(error: AgentbusError): void;
  clock?: Clock;
}

/**
 * A voice call's opening — the request up to the worker's first frame (`start` of speech, `ready`
 * of a transcription) — with one retry, as chat's before its first token: a retryable refusal
 * (`overloaded`, no responders, an engine chain that failed on that worker: its `error` frame came
 * first) is asked once more of the agent's queue group, where another worker may take it; nothing
 * was said or uploaded yet. An opening that failed after a worker took it (a first frame of the
 * wrong kind or unreadable, an upload inbox refused) is not: that worker is told to stop instead.
 * The same request id both times.
 */
export async function openWithRetry<R extends { timeout_ms: number }, T>(options: OpenRetryOptions<R, T>): Promise<T> {
  const clock = options.clock ?? systemClock;
  const started = clock.now();
  const { request } = options;
  let first: AgentbusError;
  try {
    return await options.open(request, 1);
  } catch (err) {
    first = AgentbusError.from(err);
  }
  const left = request.timeout_ms - (clock.now() - started);
  if (!retriedHere(first) || taken.has(first) || options.signal.aborted || left < MIN_ATTEMPT_MS) throw first;
  options.onRetry?.(first);
  try {
    return await options.open({ ...request, timeout_ms: left }, 2);
  } catch (err) {
    const second = AgentbusError.from(err);
    throw second.restated({
      message: second.message + earlierAttempts(second, [first]),
      retryAfterMs: earliestRetry([[first, second]]),
    });
  }
}
