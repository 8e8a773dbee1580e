import { AgentbusError, type EmbedVectorsReply } from '../../bus-schemas/index.js';
import { systemClock, type Clock } from '../../common/clock.js';
import { earliestRetry } from '../call/earliest-retry.js';
import { earlierAttempts } from '../call/earlier-attempts.js';
import { retriedHere } from '../call/retried-here.js';

/** One attempt: `timeoutMs` of the deadline left, `waitMs` for a worker to show it took the request. */
export type EmbedAttempt = (timeoutMs: number, waitMs: number | undefined) => Promise<EmbedVectorsReply>;

export interface EmbedRetryOptions {
  /** The whole request's deadline, shared by both attempts. */
  totalMs: number;
  /** How long the first attempt may go without a sign that a worker took it (the agent's first-token limit). */
  firstReplyMs: number;
  attempt: EmbedAttempt;
  /** Told before the second attempt, for the log. */
  onRetry(error: AgentbusError): void;
  clock?: Clock;
}

// Below this, a second attempt could not finish anything: end with the first error instead.
const MIN_ATTEMPT_MS = 100;

/**
 * An embeddings request with one retry, as chat's before its first token (call/retry.ts): no
 * responders, a lost attempt (no worker took it within the first-token limit, or the one that
 * did went silent: no heartbeat), or a retryable error reply (a dead backend, a worker shutting
 * down) is asked once more of the agent's queue group, where another worker may answer. A worker
 * that heartbeats is never given up for a retry, however long its batch takes, and an attempt
 * given up is cancelled first (ask-embeddings.ts): no worker computes the same batch twice.
 * An embedding has no partial answer, so any failure is "before the answer".
 * Never the catalog's fallback agent: another model's vectors live in another space, and mixing
 * them with this one's would silently break a vector index. The same request id both times.
 */
export async function embedWithRetry(options: EmbedRetryOptions): Promise<EmbedVectorsReply> {
  const clock = options.clock ?? systemClock;
  const started = clock.now();
  const { totalMs } = options;
  // A first-reply limit no shorter than the deadline is the deadline's job (deadline_exceeded).
  const waitMs = options.firstReplyMs < totalMs ? options.firstReplyMs : undefined;
  let first: AgentbusError;
  try {
    return await options.attempt(totalMs, waitMs);
  } catch (err) {
    first = AgentbusError.from(err);
  }
  const left = totalMs - (clock.now() - started);
  if (!retriedHere(first) || left < MIN_ATTEMPT_MS) throw first;
  options.onRetry(first);
  try {
    return await options.attempt(left, undefined);
  } catch (err) {
    const second = AgentbusError.from(err);
    throw second.restated({
      message: second.message + earlierAttempts(second, [first]),
      // Both attempts asked the same agent.
      retryAfterMs: earliestRetry([[first, second]]),
    });
  }
}
