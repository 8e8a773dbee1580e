import {
  AgentbusError,
  asksNextAgent,
  errorFromWire,
  type FallbackStep,
  type ReplyFrame,
} from '../../bus-schemas/index.js';
import type { Agent } from '../../common/catalog.js';
import { systemClock, type Clock, type TimerHandle } from '../../common/clock.js';
import { LightSignal } from '../../common/light-signal.js';
import { onAbort, type CallScope, type FrameSource } from './call.js';
import { earliestRetry } from './earliest-retry.js';
import { earlierAttempts } from './earlier-attempts.js';
import { retriedHere } from './retried-here.js';
import { StoppedBeforeAnswer } from './stopped-before-answer.js';

/**
 * The request to `agent` with `timeoutMs` left of the whole deadline; `attempt` counts from 1 (the
 * envelope's `attempt` from 2: the earlier ones were given up on, their pending turns are replaced).
 */
export type Attempt = (agent: Agent, timeoutMs: number, attempt: number) => FrameSource;

export interface RetryOptions {
  agent: Agent;
  /**
   * The agent's catalog fallback, tried after the agent failed twice before its first token, or
   * at once after an error only another agent may help with (`nextAgent` in the error table).
   */
  fallback: Agent | undefined;
  /** No delta or done within this long after publishing counts as a failed attempt. */
  firstTokenMs: number;
  /** The whole answer's deadline, shared by every attempt. */
  totalMs: number;
  attempt: Attempt;
  /** Told about each step away from the first choice, for the log. */
  onStep(step: FallbackStep, error: AgentbusError): void;
  clock?: Clock;
}

// Below this, another attempt could not finish anything: end with the last error instead.
const MIN_ATTEMPT_MS = 100;

/** How an attempt failed when another attempt might still answer. */
interface AttemptFailure {
  error: AgentbusError;
  /** The worker's own error frame: relayed (naming the earlier attempts) if no attempt follows. */
  frame?: Extract<ReplyFrame, { type: 'error' }>;
}

/** What the attempts of one call share: the frame numbering seen by the client, and the steps taken. */
interface Relayed {
  seq: number;
  acked: boolean;
  readonly steps: FallbackStep[];
}

/** One entry of the plan: the agent asked, and the step that leads to it. */
interface Planned {
  agent: Agent;
  kind: FallbackStep['kind'] | 'first';
}

/** An attempt that failed and was followed by another: for the last error's message and Retry-After. */
interface Tried {
  agent: string;
  error: AgentbusError;
}

/**
 * One agent's answer with retries: on no responders, a first-token timeout or any retryable
 * error BEFORE the first token, the same agent is asked once more, then its fallback agent. An
 * error that only this agent's own backend gives (a refused key, a missing model, an empty account: `nextAgent` in
 * the error table) skips the retry and goes to the fallback at once.
 * Each attempt reuses the request id, so at most one turn is stored. Nothing is retried once a
 * token was relayed (the client has seen part of that answer), nor after a close or cancel.
 *
 * The frames look like one call: the first `ack` only, `seq` renumbered, and `done.meta.fallback`
 * listing the steps taken (before the worker's own provider steps).
 */
export function withRetries(options: RetryOptions): FrameSource {
  return (scope) => retrying(options, scope);
}

async function* retrying(options: RetryOptions, scope: CallScope): AsyncGenerator<ReplyFrame> {
  const clock = options.clock ?? systemClock;
  const plan: Planned[] = [
    { agent: options.agent, kind: 'first' },
    { agent: options.agent, kind: 'retry' },
    ...(options.fallback ? [{ agent: options.fallback, kind: 'agent' as const }] : []),
  ];
  // The deadline counts from the first publish: the first attempt gets the whole of it.
  const started = clock.now();
  // By attempt, not by plan index: a skipped entry of the plan was never asked.
  const tried: Tried[] = [];
  const relayed: Relayed = { seq: 0, acked: false, steps: [] };
  for (let index: number | undefined = 0; index !== undefined;) {
    // Closed before this attempt started (even before the first iteration): publish nothing.
    if (scope.closed.aborted) return;
    if (scope.cancelled.aborted) {
      throw new AgentbusError(
        'request_cancelled',
        'Cancelled by the client before the request reached a worker; nothing was stored.',
      );
    }
    const { agent } = plan[index]!;
    const remaining = index === 0 ? options.totalMs : options.totalMs - (clock.now() - started);
    const source = options.attempt(agent, Math.max(remaining, MIN_ATTEMPT_MS), tried.length + 1);
    const run = new AttemptRun(agent, options.firstTokenMs, remaining, scope, clock, relayed);
    const failure = yield* run.frames(source);
    if (!failure) return;
    const nextIndex = nextOf(plan, index, failure.error);
    const timeLeft = options.totalMs - (clock.now() - started);
    if (nextIndex === undefined || timeLeft < MIN_ATTEMPT_MS || scope.closed.aborted || scope.cancelled.aborted) {
      const last = lastError(failure, agent.name, tried);
      if (last instanceof AgentbusError) throw last;
      yield { ...last, seq: relayed.seq++ };
      return;
    }
    tried.push({ agent: agent.name, error: failure.error });
    const next = plan[nextIndex]!;
    const step: FallbackStep = {
      kind: next.kind === 'first' ? 'retry' : next.kind,
      from: agent.name,
      to: next.agent.name,
      reason: failure.error.code,
    };
    relayed.steps.push(step);
    options.onStep(step, failure.error);
    index = nextIndex;
  }
}

/**
 * The entry of the plan asked after entry `index` failed with `error`, if any: the next one after
 * an error retried here; after one only another agent may help with, or a retryable one the same
 * agent would meet again at once (its upstream's rate limit, shared by all its workers), the next
 * of another agent; none after any other.
 */
function nextOf(plan: readonly Planned[], index: number, error: AgentbusError): number | undefined {
  const failed = plan[index]!.agent.name;
  const anotherAgent = () => plan.findIndex((entry, i) => i > index && entry.agent.name !== failed);
  let next = -1;
  if (retriedHere(error)) next = index + 1;
  else if (error.retryable || asksNextAgent(error.code)) next = anotherAgent();
  return next >= 0 && next < plan.length ? next : undefined;
}

/**
 * How the call ends when no attempt follows: the last failure naming the earlier ones, which
 * explain more than it alone (a retry meeting no worker, say); the worker's own frame if it sent
 * one (relayed), else the error (thrown). Retry-After is the earliest any agent asked may answer, and only when the
 * last error is retryable; an agent that refused for good (its key, its model, its quota) is passed over by a retry
 * too, so it does not count.
 */
function lastError(
  failure: AttemptFailure,
  agent: string,
  tried: readonly Tried[],
): AgentbusError | Omit<Extract<ReplyFrame, { type: 'error' }>, 'seq'> {
  const said = earlierAttempts(
    { message: failure.error.message, agent },
    tried.map((t) => ({ message: t.error.message, agent: t.agent })),
  );
  const failuresOf = new Map<string, AgentbusError[]>();
  for (const t of [...tried, { agent, error: failure.error }]) {
    if (!asksNextAgent(t.error.code)) failuresOf.set(t.agent, [...(failuresOf.get(t.agent) ?? []), t.error]);
  }
  // A wait is advice to send it again: not for a last error no wait fixes (the fallback's refused key, say).
  const retryAfterMs = failure.error.retryable ? earliestRetry(failuresOf.values()) : undefined;
  if (failure.frame) {
    const { retry_after_ms: _last, ...error } = failure.frame.error;
    const wait = retryAfterMs === undefined ? {} : { retry_after_ms: retryAfterMs };
    return { ...failure.frame, error: { ...error, message: error.message + said, ...wait } };
  }
  return failure.error.restated({ message: failure.error.message + said, retryAfterMs });
}

/** One frame of an attempt, as relayed (if at all), and whether the attempt ends with it (how it failed, if so). */
interface Step {
  relay?: ReplyFrame;
  end?: true;
  failure?: AttemptFailure;
}

/** One attempt: its first-token timer, and whether it relayed a token (then it is the answer). */
class AttemptRun {
  // Closed by the client, or by this attempt's own timer (in place of AbortSignal.any).
  readonly #closed = new LightSignal();
  #timer: TimerHandle | undefined;
  #relayedToken = false;
  #timedOut = false;

  constructor(
    private readonly agent: Agent,
    private readonly firstTokenMs: number,
    private readonly remainingMs: number,
    private readonly scope: CallScope,
    private readonly clock: Clock,
    private readonly relayed: Relayed,
  ) {}

  /** Yields the attempt's frames renumbered; returns how it failed when a retry may help. */
  async *frames(source: FrameSource): AsyncGenerator<ReplyFrame, AttemptFailure | undefined> {
    // The attempt ends when the client leaves, or when this attempt's own timer gives up on it.
    // Not removed when the attempt ends: a close after its `done` still owes the worker a receipt.
    onAbort(this.scope.closed, () => this.#closed.abort(this.scope.closed.reason));
    const scope: CallScope = { ...this.scope, closed: this.#closed };
    // A first-token limit no shorter than the time left is the deadline's job, whose own error
    // (deadline_exceeded, not retried) says what happened.
    if (this.firstTokenMs < this.remainingMs) {
      this.#timer = this.clock.setTimeout(() => {
        this.#timedOut = true;
        this.#closed.abort('no first token in time; trying again');
      }, this.firstTokenMs);
    }
    // A cancel stops the first-token timer, so it cannot start a retry.
    const stopWatching = onAbort(this.scope.cancelled, () => this.clock.clearTimeout(this.#timer));
    try {
      for await (const frame of source(scope)) {
        // Frames still queued when the timer closed the attempt belong to an abandoned attempt.
        if (this.#timedOut) break;
        const step = this.#step(frame);
        if (step.relay) yield step.relay;
        if (step.end) return step.failure;
      }
      return this.#endedWithoutTerminal();
    } catch (err) {
      if (this.#relayedToken || this.scope.cancelled.aborted || this.scope.closed.aborted) throw err;
      // The gateway stops: its client sends the request again, elsewhere; an attempt here would be cut.
      if (err instanceof StoppedBeforeAnswer) throw err;
      return { error: AgentbusError.from(err) };
    } finally {
      this.clock.clearTimeout(this.#timer);
      stopWatching();
    }
  }

  /** What one frame becomes: relayed renumbered (or not at all), and whether the attempt ends with it. */
  #step(frame: ReplyFrame): Step {
    const { relayed } = this;
    if (frame.type === 'ack') {
      if (relayed.acked) return {};
      relayed.acked = true;
    } else if (frame.type === 'heartbeat' && frame.generating) {
      // The model started a non-streamed answer: nothing is relayed yet, so a failure may
      // still be retried, but the first-token limit is met.
      this.clock.clearTimeout(this.#timer);
    } else if (frame.type === 'delta') {
      this.#relayedToken = true;
      this.clock.clearTimeout(this.#timer);
    } else if (frame.type === 'done') {
      const fallback = [...relayed.steps, ...(frame.meta.fallback ?? [])];
      const meta = { ...frame.meta, ...(fallback.length > 0 ? { fallback } : {}) };
      return { relay: { ...frame, seq: relayed.seq++, meta }, end: true };
    } else if (frame.type === 'error') {
      if (!this.#relayedToken && !this.scope.cancelled.aborted) {
        return { end: true, failure: { error: errorFromWire(frame.error), frame } };
      }
      return { relay: { ...frame, seq: relayed.seq++ }, end: true };
    }
    return { relay: { ...frame, seq: relayed.seq++ } };
  }

  /** The frames stopped without a terminal one: the client closed the call, or this attempt timed out. */
  #endedWithoutTerminal(): AttemptFailure | undefined {
    if (!this.#timedOut) return undefined;
    const error = new AgentbusError(
      'first_token_timeout',
      `Agent "${this.agent.name}" produced no first token within ${this.firstTokenMs} ms.`,
    );
    return { error };
  }
}
