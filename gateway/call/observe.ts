import { AgentbusError, errorFromWire, type ReplyFrame } from '../../bus-schemas/index.js';
import { systemClock, type Clock } from '../../common/clock.js';
import type { CallScope, FrameSource } from './call.js';

/** How one call ended, as the trace log and the metrics record it. */
export interface CallSummary {
  /** The agent asked (a catalog fallback that answered instead still counts for it). */
  agent: string;
  conversationId: string;
  cached: boolean;
  /** Characters of the answer: text plus tool-call arguments. */
  responseChars: number;
  /** 200, the error's HTTP status, or 499 when the client left first. */
  status: number;
  errorCode?: string;
  /** From the call's start to its end, in ms. */
  durationMs: number;
  /**
   * From the call's start to its first token, in ms: the first delta, or on a non-streamed
   * request the heartbeat that announces generation (its tokens travel only at the end).
   * Absent when no token came.
   */
  firstTokenMs?: number;
  /** Token counts of the `done` frame; absent when the call did not finish. */
  usage?: { promptTokens: number; completionTokens: number };
  /** The model that answered (the `done` frame's `meta.model`); absent when the call did not finish. */
  model?: string;
}

/** Hears every observed call of a gateway (its metrics). */
export interface CallListener {
  opened(agent: string): void;
  ended(summary: CallSummary): void;
}

export interface ObserveOptions {
  /** The agent asked. */
  agent: string;
  /** The conversation id sent with the request, until the ack names the resolved one. */
  sessionId: string;
  /**
   * Hears how the call ended, once (the trace log), after the event-loop turn in which it ended:
   * that turn writes the answer to the client, and bookkeeping must not hold it up.
   */
  onEnd(summary: CallSummary): void;
  /** The gateway's metrics; a listener's bug never breaks a client's answer. */
  listener?: CallListener | undefined;
  /**
   * The error as its client is told it, where the face renames it (an unknown previous_response_id is
   * `response_not_found`, not the bus's `session_not_found`): trace log and metrics say what the client saw.
   */
  named?: ((error: AgentbusError) => AgentbusError) | undefined;
  clock?: Clock;
}

/**
 * `source` with its frames passed through untouched, telling `onEnd` (and the listener) once how
 * the call ended, whatever way its consumer finishes: done, error, client gone, or an early
 * `return`. A call counts as open only once read: a call nobody iterates never ends either.
 */
export function observed(source: FrameSource, options: ObserveOptions): FrameSource {
  return (scope) => observing(source, options, scope);
}

/** Runs bookkeeping that must never break an answer (metrics, the trace log): its bugs are dropped. */
function bestEffort(run: () => void): void {
  try {
    run();
  } catch {
    // metrics and the trace line are best effort
  }
}

/** Tells the trace log and the metrics how a call ended. */
function report(options: ObserveOptions, summary: CallSummary): void {
  bestEffort(() => options.onEnd(summary));
  bestEffort(() => options.listener?.ended(summary));
}

async function* observing(source: FrameSource, options: ObserveOptions, scope: CallScope): AsyncGenerator<ReplyFrame> {
  const clock = options.clock ?? systemClock;
  const started = clock.now();
  const summary: CallSummary = {
    agent: options.agent,
    conversationId: options.sessionId,
    cached: false,
    responseChars: 0,
    status: 0,
    durationMs: 0,
  };
  const fail = (error: AgentbusError) => {
    const told = options.named?.(error) ?? error;
    summary.status = told.status;
    summary.errorCode = told.code;
  };
  const firstToken = () => {
    summary.firstTokenMs ??= clock.now() - started;
  };
  bestEffort(() => options.listener?.opened(summary.agent));
  try {
    for await (const frame of source(scope)) {
      if (frame.type === 'ack') {
        summary.conversationId = frame.conversation_id;
        summary.cached = frame.cached === true;
      } else if (frame.type === 'delta') {
        firstToken();
        summary.responseChars += (frame.content?.length ?? 0) + (frame.refusal?.length ?? 0);
        for (const fragment of frame.tool_calls ?? []) summary.responseChars += fragment.function.arguments.length;
      } else if (frame.type === 'heartbeat') {
        if (frame.generating) firstToken();
      } else if (frame.type === 'done') {
        summary.status = 200;
        summary.cached ||= frame.meta.cached;
        summary.usage = { promptTokens: frame.usage.prompt_tokens, completionTokens: frame.usage.completion_tokens };
        summary.model = frame.meta.model;
      } else if (frame.type === 'error') fail(errorFromWire(frame.error));
      yield frame;
    }
  } catch (err) {
    fail(AgentbusError.from(err));
    throw err;
  } finally {
    if (summary.status === 0) {
      fail(
        scope.closed.aborted
          ? new AgentbusError('request_cancelled', 'client left')
          : new AgentbusError('stream_protocol_error', 'no terminal frame'),
      );
    }
    summary.durationMs = clock.now() - started;
    // After this event-loop turn, which writes the answer: at concurrency 1 the trace line and
    // the metrics (~0.15 ms) sat between the last frame and the client's response (BENCHMARKS.md).
    setImmediate(report, options, summary);
  }
}
