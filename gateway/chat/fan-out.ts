import {
  AgentbusError,
  errorFromWire,
  type AckFrame,
  type AgentPart,
  type DoneFrame,
  type ReplyFrame,
  type Usage,
} from '../../bus-schemas/index.js';
import type { AgentCall } from '../bus/agent-call.js';

/** One agent's call in a fan-out, in route order. */
export interface FanOutPart {
  agent: string;
  call: AgentCall;
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
   * When the route names an aggregator: called once every part ended, with their answers; its
   * call's text becomes the answer instead of the titled sections.
   */
  aggregate?: { agent: string; start(results: PartResult[]): AgentCall };
}

interface PartState {
  readonly agent: string;
  readonly call: AgentCall;
  readonly queue: ReplyFrame[];
  content: string;
  ack?: AckFrame;
  done?: DoneFrame;
  error?: AgentbusError;
  ended: boolean;
  endedAt: number;
}

const ZERO_USAGE: Usage = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };

function addUsage(a: Usage, b: Usage): Usage {
  return {
    prompt_tokens: a.prompt_tokens + b.prompt_tokens,
    completion_tokens: a.completion_tokens + b.completion_tokens,
    total_tokens: a.total_tokens + b.total_tokens,
  };
}

/** A section's title line; sections after the first are set off by a blank line. */
const heading = (agent: string, first: boolean) => `${first ? '' : '\n\n'}## ${agent}\n\n`;
const failureNote = (part: PartState) => `_(${part.agent} failed: ${part.error?.message ?? 'no answer'})_`;

/**
 * Several agents' calls as one call: they run in parallel, and the answer is one message with a
 * titled section per agent in route order. A later agent's tokens that arrive while an earlier
 * one still streams are held and relayed when its turn comes, so nothing is lost and sections
 * never interleave. One agent failing leaves a note in its section and `status: "error"` in
 * `meta.agents`; only when every agent fails does the call end in an error.
 *
 * Tool calls are not merged across agents (the router sends requests with tools to one agent).
 */
export function fanOut(parts: FanOutPart[], options: FanOutOptions): AgentCall {
  const started = Date.now();
  const states: PartState[] = parts.map(({ agent, call }) => ({
    agent,
    call,
    queue: [],
    content: '',
    ended: false,
    endedAt: 0,
  }));
  let wake: (() => void) | undefined;
  let heartbeatDue = false;
  let closedByClient = false;
  let cancelled = false;
  let aggregatorCall: AgentCall | undefined;
  const notify = () => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };
  const changed = () => new Promise<void>((resolve) => (wake = resolve));

  // Each part is read as fast as it produces, whatever section is being relayed.
  for (const state of states) {
    void (async () => {
      try {
        for await (const frame of state.call) {
          if (frame.type === 'ack') state.ack ??= frame;
          else if (frame.type === 'heartbeat') heartbeatDue = true;
          else if (frame.type === 'done') state.done = frame;
          else if (frame.type === 'error') state.error = errorFromWire(frame.error);
          else state.queue.push(frame);
          notify();
        }
        if (!state.done && !state.error)
          state.error = new AgentbusError('stream_protocol_error', 'the reply ended without a terminal frame');
      } catch (err) {
        state.error = err instanceof AgentbusError ? err : new AgentbusError('internal_error', String(err));
      } finally {
        state.ended = true;
        state.endedAt = Date.now();
        notify();
      }
    })();
  }

  function partMeta(state: PartState): AgentPart {
    const base = { agent: state.agent, processing_ms: Math.max(0, state.endedAt - started) };
    if (state.done) {
      const { meta } = state.done;
      return {
        ...base,
        status: 'ok',
        model: meta.model,
        usage: state.done.usage,
        ...(meta.provider ? { provider: meta.provider } : {}),
        ...(meta.fallback?.length ? { fallback: meta.fallback } : {}),
      };
    }
    return {
      ...base,
      status: 'error',
      error: { code: state.error?.code ?? 'internal_error', message: state.error?.message ?? 'no answer' },
    };
  }

  function summary(extra: PartState[], seq: number, conversationId: string, requestId: string): DoneFrame {
    const all = [...states, ...extra];
    const ok = all.filter((state) => state.done);
    const dones = ok.map((state) => state.done!);
    return {
      type: 'done',
      seq,
      request_id: requestId,
      finish_reason: dones.some((done) => done.finish_reason === 'length') ? 'length' : 'stop',
      usage: dones.reduce((sum, done) => addUsage(sum, done.usage), ZERO_USAGE),
      meta: {
        conversation_id: conversationId,
        memory_used: dones.some((done) => done.meta.memory_used),
        cached: dones.length > 0 && dones.every((done) => done.meta.cached),
        processing_ms: Date.now() - started,
        agent: all.map((state) => state.agent).join('+'),
        model: [...new Set(dones.map((done) => done.meta.model))].join('+'),
        worker: [...new Set(dones.map((done) => done.meta.worker))].join('+'),
        agents: all.map(partMeta),
      },
    };
  }

  /** The error when no agent answered: a cancel stays a cancel, else the first agent's error. */
  function everyPartFailed(): AgentbusError {
    if (cancelled)
      return new AgentbusError(
        'request_cancelled',
        'Cancelled by the client; no agent of the route had finished, and nothing was stored.',
      );
    const first = states[0]!.error!;
    return new AgentbusError(
      first.code,
      `Every agent of the route failed: ${states.map((state) => `${state.agent}: ${state.error?.message ?? 'no answer'}`).join('; ')}`,
      { cause: first },
    );
  }

  async function* frames(): AsyncGenerator<ReplyFrame> {
    let seq = 0;
    // The ack waits for a worker's, so it carries the conversation id the worker resolved.
    while (!states.some((state) => state.ack) && !states.every((state) => state.ended)) await changed();
    if (closedByClient) return;
    const firstAck = states.find((state) => state.ack)?.ack;
    const conversationId = firstAck?.conversation_id ?? options.sessionId;
    const requestId = firstAck?.request_id ?? 'fan-out';
    if (states.every((state) => state.error)) throw everyPartFailed();
    yield {
      type: 'ack',
      seq: seq++,
      request_id: requestId,
      worker: firstAck!.worker,
      conversation_id: conversationId,
      cached: false,
    };

    if (options.aggregate) {
      while (!states.every((state) => state.ended)) {
        if (heartbeatDue) {
          heartbeatDue = false;
          yield { type: 'heartbeat', seq: seq++, request_id: requestId };
        }
        await changed();
      }
      if (closedByClient) return;
      if (!states.some((state) => state.done)) throw everyPartFailed();
      if (cancelled)
        throw new AgentbusError(
          'request_cancelled',
          'Cancelled by the client before the answers were combined; the parts that had finished are stored in the conversation.',
        );
      for (const state of states)
        state.content = state.queue.map((frame) => (frame.type === 'delta' ? (frame.content ?? '') : '')).join('');
      aggregatorCall = options.aggregate.start(
        states.map((state) => ({
          agent: state.agent,
          content: state.content,
          ...(state.error ? { error: state.error } : {}),
        })),
      );
      const aggregator: PartState = {
        agent: options.aggregate.agent,
        call: aggregatorCall,
        queue: [],
        content: '',
        ended: false,
        endedAt: 0,
      };
      let relayed = false;
      try {
        for await (const frame of aggregatorCall) {
          if (closedByClient) return;
          if (frame.type === 'delta' && frame.content !== undefined) {
            relayed = true;
            yield { type: 'delta', seq: seq++, request_id: requestId, content: frame.content };
          } else if (frame.type === 'heartbeat') yield { type: 'heartbeat', seq: seq++, request_id: requestId };
          else if (frame.type === 'done') aggregator.done = frame;
          else if (frame.type === 'error') aggregator.error = errorFromWire(frame.error);
          if (aggregator.done || aggregator.error) break;
        }
      } catch (err) {
        if (closedByClient) return;
        aggregator.error = err instanceof AgentbusError ? err : new AgentbusError('internal_error', String(err));
      }
      if (closedByClient) return;
      aggregator.ended = true;
      aggregator.endedAt = Date.now();
      if (aggregator.done) return yield summary([aggregator], seq, conversationId, requestId);
      aggregator.error ??= new AgentbusError('stream_protocol_error', 'the reply ended without a terminal frame');
      // Part of the synthesis is already out: it cannot be taken back, so the answer is cut.
      if (relayed) throw aggregator.error;
      // The synthesis failed before its first token: answer with the sections, which say so (a partial answer, not a 500).
      let text = `_(${aggregator.agent} could not combine the answers: ${aggregator.error.message})_`;
      for (const state of states)
        text += heading(state.agent, false) + (state.done ? state.content : failureNote(state));
      yield { type: 'delta', seq: seq++, request_id: requestId, content: text };
      return yield summary([aggregator], seq, conversationId, requestId);
    }

    for (const [index, state] of states.entries()) {
      yield { type: 'delta', seq: seq++, request_id: requestId, content: heading(state.agent, index === 0) };
      for (;;) {
        // A yield may resume after the client left: nothing more is sent then.
        if (closedByClient) return;
        const frame = state.queue.shift();
        if (frame) {
          if (frame.type === 'delta' && frame.content !== undefined)
            yield { type: 'delta', seq: seq++, request_id: requestId, content: frame.content };
          continue;
        }
        if (state.ended) break;
        if (heartbeatDue) {
          heartbeatDue = false;
          yield { type: 'heartbeat', seq: seq++, request_id: requestId };
          continue;
        }
        await changed();
        if (closedByClient) return;
      }
      if (state.error) yield { type: 'delta', seq: seq++, request_id: requestId, content: failureNote(state) };
    }
    if (closedByClient) return;
    if (!states.some((state) => state.done)) throw everyPartFailed();
    yield summary([], seq, conversationId, requestId);
  }

  const iterable = frames();
  return {
    [Symbol.asyncIterator]: () => iterable,
    get closedByClient() {
      return closedByClient;
    },
    close(reason) {
      closedByClient = true;
      for (const state of states) state.call.close(reason);
      aggregatorCall?.close(reason);
      notify();
    },
    cancel(reason, graceMs) {
      cancelled = true;
      for (const state of states) state.call.cancel(reason, graceMs);
      aggregatorCall?.cancel(reason, graceMs);
    },
  };
}
