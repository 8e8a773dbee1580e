import { AgentbusError, errorFromWire, type FallbackStep, type ReplyFrame } from '../../bus-schemas/index.js';
import type { Agent } from '../../common/catalog.js';
import type { AgentCall } from '../bus/agent-call.js';

/** Publishes the request to `agent` with `timeoutMs` left of the whole deadline. */
export type PublishAttempt = (agent: Agent, timeoutMs: number) => AgentCall;

export interface ResilientCallOptions {
  agent: Agent;
  /** The agent's catalog fallback, tried after the agent failed twice before its first token. */
  fallback: Agent | undefined;
  /** No delta or done within this long after publishing counts as a failed attempt. */
  firstTokenMs: number;
  /** The whole answer's deadline, shared by every attempt. */
  totalMs: number;
  publish: PublishAttempt;
  /** Told about each step away from the first choice, for the log. */
  onStep(step: FallbackStep, error: AgentbusError): void;
}

const ordinal = (n: number) => ['first', 'second', 'third'][n - 1] ?? `${n}th`;

// Below this, another attempt could not finish anything: end with the last error instead.
const MIN_ATTEMPT_MS = 100;

/**
 * One agent's answer with retries: on no responders, a first-token timeout or any retryable
 * error BEFORE the first token, the same agent is asked once more, then its fallback agent.
 * Each attempt reuses the request id, so at most one turn is stored. Nothing is retried once a
 * token was relayed: the client has already seen part of that answer.
 *
 * The frames look like one call: the first `ack` only, `seq` renumbered, and `done.meta.fallback`
 * listing the steps taken (before the worker's own provider steps).
 */
export function callWithRetries(options: ResilientCallOptions): AgentCall {
  const plan: Array<{ agent: Agent; kind: FallbackStep['kind'] | 'first' }> = [
    { agent: options.agent, kind: 'first' },
    { agent: options.agent, kind: 'retry' },
    ...(options.fallback ? [{ agent: options.fallback, kind: 'agent' as const }] : []),
  ];
  let current: AgentCall | undefined;
  let closedByClient = false;
  let cancelled: { reason: string; graceMs: number } | undefined;
  // The current attempt's first-token timer: a cancel stops it, so it cannot start a retry.
  let firstTokenTimer: NodeJS.Timeout | undefined;

  async function* frames(): AsyncGenerator<ReplyFrame> {
    // The deadline counts from the first publish: the first attempt gets the whole of it.
    const started = Date.now();
    const steps: FallbackStep[] = [];
    const earlier: AgentbusError[] = [];
    let seq = 0;
    let acked = false;
    for (let index = 0; index < plan.length; index++) {
      // Closed before this attempt started (even before the first iteration): publish nothing.
      if (closedByClient) return;
      if (cancelled)
        throw new AgentbusError(
          'request_cancelled',
          'Cancelled by the client before the request reached a worker; nothing was stored.',
        );
      const { agent } = plan[index]!;
      const remaining = index === 0 ? options.totalMs : options.totalMs - (Date.now() - started);
      const call = options.publish(agent, Math.max(remaining, MIN_ATTEMPT_MS));
      current = call;
      let relayedToken = false;
      let timedOut = false;
      // A first-token limit no shorter than the time left is the deadline's job, whose own
      // error (deadline_exceeded, not retried) says what happened.
      firstTokenTimer =
        options.firstTokenMs < remaining
          ? setTimeout(() => {
              timedOut = true;
              call.close('no first token in time; trying again');
            }, options.firstTokenMs)
          : undefined;
      let failure: AgentbusError | undefined;
      let failureFrame: ReplyFrame | undefined;
      try {
        for await (const frame of call) {
          // Frames still queued when the timer closed the call belong to an abandoned attempt.
          if (timedOut) break;
          if (frame.type === 'ack') {
            if (acked) continue;
            acked = true;
          } else if (frame.type === 'heartbeat' && frame.generating) {
            // The model started a non-streamed answer: nothing is relayed yet, so a failure
            // may still be retried, but the first-token limit is met.
            clearTimeout(firstTokenTimer);
          } else if (frame.type === 'delta') {
            relayedToken = true;
            clearTimeout(firstTokenTimer);
          } else if (frame.type === 'done') {
            clearTimeout(firstTokenTimer);
            const fallback = [...steps, ...(frame.meta.fallback ?? [])];
            yield { ...frame, seq: seq++, meta: { ...frame.meta, ...(fallback.length > 0 ? { fallback } : {}) } };
            return;
          } else if (frame.type === 'error') {
            if (relayedToken || cancelled) return yield { ...frame, seq: seq++ };
            failure = errorFromWire(frame.error);
            failureFrame = frame;
            break;
          }
          yield { ...frame, seq: seq++ };
        }
        if (!failure && !timedOut) {
          // The client closed the call: nothing more to relay.
          return;
        }
      } catch (err) {
        if (relayedToken || cancelled || closedByClient) throw err;
        failure = err instanceof AgentbusError ? err : new AgentbusError('internal_error', String(err));
      } finally {
        clearTimeout(firstTokenTimer);
      }
      failure ??= new AgentbusError(
        'first_token_timeout',
        `Agent "${agent.name}" produced no first token within ${options.firstTokenMs} ms.`,
      );
      const next = plan[index + 1];
      const timeLeft = options.totalMs - (Date.now() - started);
      if (!failure.retryable || !next || timeLeft < MIN_ATTEMPT_MS || closedByClient || cancelled || relayedToken) {
        // The earlier failures explain more than the last one (a retry meeting no worker, say).
        const tried =
          steps.length === 0
            ? ''
            : ` (this was the ${ordinal(steps.length + 1)} attempt; before it: ${earlier.map((e, i) => `${plan[i]!.agent.name}: ${e.message}`).join('; ')})`;
        if (failureFrame?.type === 'error')
          return yield {
            ...failureFrame,
            seq: seq++,
            error: { ...failureFrame.error, message: failureFrame.error.message + tried },
          };
        throw new AgentbusError(failure.code, failure.message + tried, { param: failure.param, cause: failure });
      }
      earlier.push(failure);
      const step: FallbackStep = {
        kind: next.kind === 'first' ? 'retry' : next.kind,
        from: agent.name,
        to: next.agent.name,
        reason: failure.code,
      };
      steps.push(step);
      options.onStep(step, failure);
    }
  }

  const iterable = frames();
  return {
    [Symbol.asyncIterator]: () => iterable,
    get closedByClient() {
      return closedByClient;
    },
    close(reason) {
      closedByClient = true;
      current?.close(reason);
    },
    cancel(reason, graceMs) {
      cancelled = { reason, graceMs };
      clearTimeout(firstTokenTimer);
      current?.cancel(reason, graceMs);
    },
  };
}
