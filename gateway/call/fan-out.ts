import {
  AgentbusError,
  errorFromWire,
  type AckFrame,
  type AgentPart,
  type DeltaFrame,
  type DoneFrame,
  type ReplyFrame,
  type Usage,
} from '../../bus-schemas/index.js';
import { systemClock, type Clock } from '../../common/clock.js';
import { onAbort, type CallScope, type FrameSource } from './call.js';
import { earliestRetry } from './earliest-retry.js';
import { StoppedBeforeAnswer } from './stopped-before-answer.js';

/** One agent's answer in a fan-out, in route order. */
export interface FanOutPart {
  agent: string;
  source: FrameSource;
}

/** What the aggregator gets: each part's text, or why it has none. */
export interface PartResult {
  agent: string;
  content: string;
  error?: AgentbusError;
}

export interface FanOutOptions {
  /** The conversation id sent with the request, used until a worker names the resolved one. */
  sessionId: string;
  /**
   * When the route names an aggregator: started once every part ended, with their answers; its
   * text becomes the answer instead of the titled sections.
   */
  aggregate?: { agent: string; start(results: PartResult[]): FrameSource };
  clock?: Clock;
}

/** A part as it is read: its queued frames and how it ended. */
interface PartState {
  readonly agent: string;
  readonly queue: ReplyFrame[];
  content: string;
  ack?: AckFrame;
  done?: DoneFrame;
  error?: AgentbusError;
  ended: boolean;
  endedAt: number;
}

const ZERO_USAGE: Usage = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };

/** The sum of two parts' usage; reasoning tokens summed where either part's backend counted them. */
function addUsage(a: Usage, b: Usage): Usage {
  const sum: Usage = {
    prompt_tokens: a.prompt_tokens + b.prompt_tokens,
    completion_tokens: a.completion_tokens + b.completion_tokens,
    total_tokens: a.total_tokens + b.total_tokens,
  };
  const [ra, rb] = [a.completion_tokens_details?.reasoning_tokens, b.completion_tokens_details?.reasoning_tokens];
  if (ra !== undefined || rb !== undefined) sum.completion_tokens_details = { reasoning_tokens: (ra ?? 0) + (rb ?? 0) };
  return sum;
}

/** The combined answer is cut if any part was: a filtered part says most (something was withheld). */
function cutReason(dones: DoneFrame[]): DoneFrame['finish_reason'] {
  if (dones.some((done) => done.finish_reason === 'content_filter')) return 'content_filter';
  return dones.some((done) => done.finish_reason === 'length') ? 'length' : 'stop';
}

/** A section's title line; sections after the first are set off by a blank line. */
const heading = (agent: string, first: boolean) => `${first ? '' : '\n\n'}## ${agent}\n\n`;
const failureNote = (part: PartState) => `_(${part.agent} failed: ${part.error?.message ?? 'no answer'})_`;
/** A part's text: its words, a refusal's included (undefined for a delta of neither). */
const partText = (frame: DeltaFrame) =>
  frame.content === undefined && frame.refusal === undefined
    ? undefined
    : (frame.content ?? '') + (frame.refusal ?? '');
const noTerminal = () => new AgentbusError('stream_protocol_error', 'the reply ended without a terminal frame');

/**
 * Several agents' answers as one: they run in parallel, and the answer is one message with a
 * titled section per agent in route order. A later agent's tokens that arrive while an earlier
 * one still streams are held and relayed when its turn comes, so nothing is lost and sections
 * never interleave. One agent failing leaves a note in its section and `status: "error"` in
 * `meta.agents`; only when every agent fails does the call end in an error. Every part (and the
 * aggregator) runs under the call's own scope: closing or cancelling the call reaches them all.
 *
 * Tool calls are not merged across agents (the router sends requests with tools to one agent).
 */
export function fanOut(parts: FanOutPart[], options: FanOutOptions): FrameSource {
  return (scope) => new FanOutRun(parts, options, scope).frames();
}

class FanOutRun {
  readonly #clock: Clock;
  readonly #started: number;
  readonly #states: PartState[];
  #wake: (() => void) | undefined;
  #heartbeatDue = false;
  #seq = 0;

  constructor(
    parts: FanOutPart[],
    private readonly options: FanOutOptions,
    private readonly scope: CallScope,
  ) {
    this.#clock = options.clock ?? systemClock;
    this.#started = this.#clock.now();
    this.#states = parts.map(({ agent }) => ({ agent, queue: [], content: '', ended: false, endedAt: 0 }));
    // Each part is read as fast as it produces, whatever section is being relayed.
    parts.forEach(({ source }, index) => {
      // Never rejects: readPart records every failure on the part's state.
      this.#readPart(source, this.#states[index]!).catch(() => undefined);
    });
  }

  get #closed(): boolean {
    return this.scope.closed.aborted;
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #changed(): Promise<void> {
    return new Promise<void>((resolve) => (this.#wake = resolve));
  }

  async #readPart(source: FrameSource, state: PartState): Promise<void> {
    try {
      for await (const frame of source(this.scope)) {
        if (frame.type === 'ack') state.ack ??= frame;
        else if (frame.type === 'heartbeat') this.#heartbeatDue = true;
        else if (frame.type === 'done') state.done = frame;
        else if (frame.type === 'error') state.error = errorFromWire(frame.error);
        else state.queue.push(frame);
        this.#notify();
      }
      if (!state.done && !state.error) state.error = noTerminal();
    } catch (err) {
      state.error = AgentbusError.from(err);
    } finally {
      state.ended = true;
      state.endedAt = this.#clock.now();
      this.#notify();
    }
  }

  async *frames(): AsyncGenerator<ReplyFrame> {
    // A close wakes the relay wherever it waits.
    const stopWatching = onAbort(this.scope.closed, () => this.#notify());
    try {
      yield* this.#relay();
    } finally {
      stopWatching();
    }
  }

  async *#relay(): AsyncGenerator<ReplyFrame> {
    const states = this.#states;
    // The ack waits for a worker's, so it carries the conversation id the worker resolved.
    while (!states.some((state) => state.ack) && !states.every((state) => state.ended)) await this.#changed();
    if (this.#closed) return;
    const firstAck = states.find((state) => state.ack)?.ack;
    if (!firstAck || states.every((state) => state.error)) throw this.#everyPartFailed();
    const ids = { conversationId: firstAck.conversation_id, requestId: firstAck.request_id };
    const { worker } = firstAck;
    yield {
      type: 'ack',
      seq: this.#seq++,
      request_id: ids.requestId,
      worker,
      conversation_id: ids.conversationId,
      cached: false,
    };
    if (this.options.aggregate) yield* this.#aggregated(this.options.aggregate, ids);
    else yield* this.#sections(ids);
  }

  /** Each part's text as a titled section, in route order, as it streams. */
  async *#sections(ids: { conversationId: string; requestId: string }): AsyncGenerator<ReplyFrame> {
    const { requestId } = ids;
    for (const [index, state] of this.#states.entries()) {
      yield { type: 'delta', seq: this.#seq++, request_id: requestId, content: heading(state.agent, index === 0) };
      for (;;) {
        // A yield may resume after the client left: nothing more is sent then.
        if (this.#closed) return;
        const frame = state.queue.shift();
        if (frame) {
          // A part's refusal is what that agent said: its section's text, as the others' answers are.
          const text = frame.type === 'delta' ? partText(frame) : undefined;
          if (text !== undefined) yield { type: 'delta', seq: this.#seq++, request_id: requestId, content: text };
          continue;
        }
        if (state.ended) break;
        if (this.#heartbeatDue) {
          this.#heartbeatDue = false;
          yield { type: 'heartbeat', seq: this.#seq++, request_id: requestId };
          continue;
        }
        await this.#changed();
      }
      // The gateway stops: the whole answer ends with its 503, not a note that reads as an answer.
      if (state.error instanceof StoppedBeforeAnswer) throw this.#stopped();
      // A cancel that cut a part ends the answer as cancelled, as before the combining step: nothing is stored.
      if (state.error && this.scope.cancelled.aborted) throw this.#cancelledMidway();
      if (state.error) yield { type: 'delta', seq: this.#seq++, request_id: requestId, content: failureNote(state) };
    }
    if (this.#closed) return;
    if (!this.#states.some((state) => state.done)) throw this.#everyPartFailed();
    yield this.#summary([], ids);
  }

  /** The aggregator's answer over the parts' texts, once every part ended. */
  async *#aggregated(
    aggregate: NonNullable<FanOutOptions['aggregate']>,
    ids: { conversationId: string; requestId: string },
  ): AsyncGenerator<ReplyFrame> {
    const states = this.#states;
    const { requestId } = ids;
    while (!states.every((state) => state.ended)) {
      if (this.#heartbeatDue) {
        this.#heartbeatDue = false;
        yield { type: 'heartbeat', seq: this.#seq++, request_id: requestId };
      }
      await this.#changed();
      if (this.#closed) return;
    }
    if (this.#closed) return;
    if (states.some((state) => state.error instanceof StoppedBeforeAnswer)) throw this.#stopped();
    if (!states.some((state) => state.done)) throw this.#everyPartFailed();
    if (this.scope.cancelled.aborted) throw this.#cancelledMidway();
    for (const state of states) {
      state.content = state.queue.map((frame) => (frame.type === 'delta' ? (partText(frame) ?? '') : '')).join('');
    }
    const results = states.map((state) => ({
      agent: state.agent,
      content: state.content,
      ...(state.error ? { error: state.error } : {}),
    }));
    const aggregator: PartState = { agent: aggregate.agent, queue: [], content: '', ended: false, endedAt: 0 };
    let relayed = false;
    try {
      for await (const frame of aggregate.start(results)(this.scope)) {
        if (this.#closed) return;
        if (frame.type === 'delta' && (frame.content !== undefined || frame.refusal !== undefined)) {
          relayed = true;
          const { content, refusal } = frame;
          if (content !== undefined) yield { type: 'delta', seq: this.#seq++, request_id: requestId, content };
          // The synthesis is the answer: its refusal stays one.
          if (refusal !== undefined) yield { type: 'delta', seq: this.#seq++, request_id: requestId, refusal };
        } else if (frame.type === 'heartbeat') yield { type: 'heartbeat', seq: this.#seq++, request_id: requestId };
        else if (frame.type === 'done') aggregator.done = frame;
        else if (frame.type === 'error') aggregator.error = errorFromWire(frame.error);
        if (aggregator.done || aggregator.error) break;
      }
    } catch (err) {
      if (this.#closed) return;
      aggregator.error = AgentbusError.from(err);
    }
    if (this.#closed) return;
    aggregator.ended = true;
    aggregator.endedAt = this.#clock.now();
    if (aggregator.done) {
      yield this.#summary([aggregator], ids);
      return;
    }
    aggregator.error ??= noTerminal();
    // Part of the synthesis is already out: it cannot be taken back, so the answer is cut.
    if (aggregator.error instanceof StoppedBeforeAnswer) throw this.#stopped();
    if (relayed) throw aggregator.error;
    // The synthesis failed before its first token: answer with the sections, which say so (a
    // partial answer, not a 500).
    let text = `_(${aggregator.agent} could not combine the answers: ${aggregator.error.message})_`;
    for (const state of states) text += heading(state.agent, false) + (state.done ? state.content : failureNote(state));
    yield { type: 'delta', seq: this.#seq++, request_id: requestId, content: text };
    yield this.#summary([aggregator], ids);
  }

  #partMeta(state: PartState): AgentPart {
    const base = { agent: state.agent, processing_ms: Math.max(0, state.endedAt - this.#started) };
    if (!state.done) {
      const error = { code: state.error?.code ?? 'internal_error', message: state.error?.message ?? 'no answer' };
      return { ...base, status: 'error', error };
    }
    const { meta, usage } = state.done;
    return {
      ...base,
      status: 'ok',
      model: meta.model,
      usage,
      ...(meta.provider ? { provider: meta.provider } : {}),
      ...(meta.fallback?.length ? { fallback: meta.fallback } : {}),
    };
  }

  #summary(extra: PartState[], ids: { conversationId: string; requestId: string }): DoneFrame {
    const all = [...this.#states, ...extra];
    const dones = all.flatMap((state) => (state.done ? [state.done] : []));
    return {
      type: 'done',
      seq: this.#seq++,
      request_id: ids.requestId,
      finish_reason: cutReason(dones),
      usage: dones.reduce((sum, done) => addUsage(sum, done.usage), ZERO_USAGE),
      meta: {
        conversation_id: ids.conversationId,
        memory_used: dones.some((done) => done.meta.memory_used),
        cached: dones.length > 0 && dones.every((done) => done.meta.cached),
        processing_ms: this.#clock.now() - this.#started,
        agent: all.map((state) => state.agent).join('+'),
        model: [...new Set(dones.map((done) => done.meta.model))].join('+'),
        worker: [...new Set(dones.map((done) => done.meta.worker))].join('+'),
        agents: all.map((state) => this.#partMeta(state)),
      },
    };
  }

  /** A cancel after some parts had finished: none of them is stored, as the whole answer never reached its client. */
  #cancelledMidway(): AgentbusError {
    return new AgentbusError(
      'request_cancelled',
      'Cancelled by the client before every agent of the route had answered; nothing was stored.',
    );
  }

  /** A stopping gateway's 503: no part is stored, as the whole answer never reached its client. */
  #stopped(): StoppedBeforeAnswer {
    return new StoppedBeforeAnswer();
  }

  /** The error when no agent answered: a cancel stays a cancel, else the first agent's error. */
  #everyPartFailed(): AgentbusError {
    if (this.scope.cancelled.aborted) {
      return new AgentbusError(
        'request_cancelled',
        'Cancelled by the client before any agent of the route had finished; nothing was stored.',
      );
    }
    if (this.#states.some((state) => state.error instanceof StoppedBeforeAnswer)) return this.#stopped();
    const first = this.#states[0]!.error ?? noTerminal();
    const each = this.#states.map((state) => `${state.agent}: ${state.error?.message ?? 'no answer'}`).join('; ');
    const errors = this.#states.map((state) => [state.error ?? noTerminal()]);
    return new AgentbusError(first.code, `Every agent of the route failed: ${each}`, {
      cause: first,
      retryAfterMs: earliestRetry(errors),
    });
  }
}
