import { AgentbusError, encodeJson, type DoneFrame, type ErrorCode, type ReplyFrame } from '../../bus-schemas/index.js';
import type { CallScope, FrameSource } from '../../gateway/call/call.js';

/** Reply frames of one request, numbered in the order they are made (as a worker sends them). */
export class FrameMaker {
  #seq = 0;
  constructor(readonly requestId = 'chatcmpl-test') {}

  ack(conversation = 'conv_test', worker = 'w1'): ReplyFrame {
    return { type: 'ack', seq: this.#seq++, request_id: this.requestId, worker, conversation_id: conversation };
  }
  delta(content: string): ReplyFrame {
    return { type: 'delta', seq: this.#seq++, request_id: this.requestId, content };
  }
  /** The model's refusal, apart from the text (an envelope with `refusal_deltas`). */
  refusal(refusal: string): ReplyFrame {
    return { type: 'delta', seq: this.#seq++, request_id: this.requestId, refusal };
  }
  heartbeat(generating?: boolean): ReplyFrame {
    return {
      type: 'heartbeat',
      seq: this.#seq++,
      request_id: this.requestId,
      ...(generating ? { generating } : {}),
    };
  }
  done(meta: Partial<DoneFrame['meta']> = {}): ReplyFrame {
    return {
      type: 'done',
      seq: this.#seq++,
      request_id: this.requestId,
      finish_reason: 'stop',
      usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 },
      meta: {
        conversation_id: 'conv_test',
        memory_used: false,
        cached: false,
        processing_ms: 1,
        agent: 'testing',
        model: 'm',
        worker: 'w1',
        ...meta,
      },
    };
  }
  /** `retryAfterMs`: as a worker whose providers' circuits are all open says it. */
  error(code: ErrorCode, message = `${code} (test)`, retryAfterMs?: number): ReplyFrame {
    return {
      type: 'error',
      seq: this.#seq++,
      request_id: this.requestId,
      error: new AgentbusError(code, message, { retryAfterMs }).toWire(),
    };
  }
}

export const bytesOf = (frame: ReplyFrame) => encodeJson(frame);

/** The scope's signals, controlled by the test: what a transport would hold. */
export function testScope(): CallScope & {
  close(reason?: string): void;
  cancel(reason?: string): void;
  deliver(): void;
} {
  const closer = new AbortController();
  const canceller = new AbortController();
  const deliverer = new AbortController();
  return {
    closed: closer.signal,
    cancelled: canceller.signal,
    delivered: deliverer.signal,
    close: (reason = 'test closed') => closer.abort(reason),
    cancel: (reason = 'test cancelled') => canceller.abort(reason),
    deliver: () => deliverer.abort('delivered'),
  };
}

/** How reading frames ended: the frames, and the error thrown (if any). */
export interface Read {
  frames: ReplyFrame[];
  error: AgentbusError | undefined;
  /** True once the iteration ended. */
  ended: boolean;
}

/** Reads `frames` in the background; the returned object fills in as they come. */
export function readAll(frames: AsyncIterable<ReplyFrame>): Read & { finished: Promise<Read> } {
  const read: Read = { frames: [], error: undefined, ended: false };
  const finished = (async () => {
    try {
      for await (const frame of frames) read.frames.push(frame);
    } catch (err) {
      read.error = AgentbusError.from(err);
    } finally {
      read.ended = true;
    }
    return read;
  })();
  return Object.assign(read, { finished });
}

/**
 * A scripted source: each invocation takes the next script, which yields its frames (awaiting
 * the gate promises it is handed) — a stand-in for a bus call in the pipeline's unit tests.
 */
export function scriptedSource(
  scripts: Array<(scope: CallScope) => AsyncIterable<ReplyFrame>>,
): FrameSource & { calls: number } {
  const source = Object.assign(
    (scope: CallScope) => {
      const script = scripts[source.calls++];
      if (!script) throw new Error(`scriptedSource: no script for call ${source.calls}`);
      return script(scope);
    },
    { calls: 0 },
  );
  return source;
}

/** Frames that end when the scope closes: what a bus call does when its requester leaves. */
export async function* untilClosed(scope: CallScope, frames: ReplyFrame[]): AsyncGenerator<ReplyFrame> {
  for (const frame of frames) yield frame;
  if (scope.closed.aborted) return;
  await new Promise<void>((resolve) => scope.closed.addEventListener('abort', () => resolve(), { once: true }));
}
