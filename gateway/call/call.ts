import type { DoneFrame, ReplyFrame } from '../../bus-schemas/index.js';
import type { Clock } from '../../common/clock.js';
import { LightSignal, type SignalLike } from '../../common/light-signal.js';

/**
 * What the requester wants of a call in flight. Every stage of the pipeline (the bus call,
 * retries, fan-out, observation) reads the same two signals, so the close-vs-cancel rule is
 * stated here once and nobody forwards close() or cancel() by hand.
 */
export interface CallScope {
  /**
   * The requester is gone: stop listening, tell the worker to abort (nothing is stored), and
   * end without a terminal frame.
   */
  readonly closed: SignalLike;
  /**
   * The requester still listens but wants the answer stopped: tell the worker, then relay until
   * its own terminal frame, which says what happened (`request_cancelled`, or `done` when the
   * answer was complete and stored already).
   */
  readonly cancelled: SignalLike;
  /**
   * Fires once the transport handed the whole answer to the client (the JSON body written, SSE
   * `[DONE]` flushed, the WebSocket `done` frame sent): the worker may then commit the turn
   * (protocol v2 delivery receipts). An answer that ends any other way never fires it.
   */
  readonly delivered: SignalLike;
  /**
   * A worker waits for this answer's delivery receipt until `at` (the scope's clock, ms), and
   * discards its turn after: the answer must reach the client before then (see {@link Call.overdue}).
   */
  readonly receiptDue?: (at: number) => void;
}

/**
 * The reply frames of an answer under a scope. Invoking a source starts its work (a bus call
 * publishes); each stage of the pipeline is a source made from others (retry, fan-out, …).
 */
export type FrameSource = (scope: CallScope) => AsyncIterable<ReplyFrame>;

/** A call as a transport holds it: the frames to relay (iterate once), and the two ways to stop it. */
export interface Call {
  readonly frames: AsyncIterable<ReplyFrame>;
  /**
   * The requester is gone (see {@link CallScope.closed}). After the call ended it still tells
   * the workers waiting for a delivery receipt that the answer was not delivered; a no-op once
   * {@link delivered} was called. Transports call exactly one of the two when they are done.
   */
  close(reason: string): void;
  /** The requester wants the answer stopped (see {@link CallScope.cancelled}). */
  cancel(reason: string): void;
  /** The whole answer reached the client (see {@link CallScope.delivered}); call it once, after the terminal frame. */
  delivered(): void;
  /** True when close() came before the call's end (the client left mid-answer). */
  readonly closedByClient: boolean;
  /**
   * Fires when the client has not taken the whole answer within the delivery window after `done`:
   * the call is closed (the workers discard the turn), and the transport cuts the connection at
   * once, so that bytes the client reads later never complete an answer memory does not hold.
   */
  readonly overdue: SignalLike;
}

/**
 * How long a client may take to receive the whole answer once the `done` frame is on its way: until
 * the earliest receipt wait of its workers ends ({@link CallScope.receiptDue}), less `marginMs` for
 * the receipt's own trip. An answer no worker waits a receipt for has no window.
 */
export interface DeliveryWindow {
  marginMs: number;
  clock: Clock;
}

const isTerminal = (frame: ReplyFrame) => frame.type === 'done' || frame.type === 'error';

/**
 * A call's frames: `end` awaited before the terminal frame goes on, and once more when they stop;
 * `onDone` maps the `done` frame. Declared here, not inside {@link openCall}: a generator function
 * declared per call keeps all it captured alive until a full collection, whatever the young
 * generation's collections find (measured: the gateway's young generation promoted ~9 % of
 * what it allocated with one per call, BENCHMARKS.md "Garbage collection").
 */
async function* callFrames(
  source: FrameSource,
  scope: CallScope,
  end: () => Promise<void>,
  onDone: (frame: DoneFrame) => DoneFrame,
): AsyncGenerator<ReplyFrame> {
  try {
    for await (const frame of source(scope)) {
      if (isTerminal(frame)) await end();
      yield frame.type === 'done' ? onDone(frame) : frame;
    }
  } finally {
    await end();
  }
}

/**
 * Opens a call on `source`. `onEnd` runs exactly once, when the call ends whichever way: just
 * before its terminal frame is handed on (so a client that sends its next request the moment
 * this one ends finds its slot free), when the frames stop without one, or on close().
 * `mapDone` changes the `done` frame on its way out (one stage less than a generator around `source`).
 */
export function openCall(
  source: FrameSource,
  options: {
    onEnd?: () => unknown;
    mapDone?: (frame: DoneFrame) => DoneFrame;
    /** Past it, the answer is overdue (see {@link Call.overdue}); none: a client may take any time. */
    deliveryWindow?: DeliveryWindow;
  } = {},
): Call {
  // Light signals: only our own stages read them (an AbortController each was ~2 % of the gateway).
  const closer = new LightSignal();
  const canceller = new LightSignal();
  const deliverer = new LightSignal();
  const overdue = new LightSignal();
  let ended: Promise<void> | undefined;
  const { deliveryWindow } = options;
  // The earliest end of a receipt wait among the call's workers (a fan-out has several).
  let receiptDueAt: number | undefined;
  const receiptDue = (at: number) => {
    receiptDueAt = Math.min(receiptDueAt ?? Infinity, at);
  };
  let deliveryTimer: ReturnType<Clock['setTimeout']> | undefined;
  const stopDeliveryTimer = () => deliveryWindow?.clock.clearTimeout(deliveryTimer);
  const startDeliveryTimer = (call: Call) => {
    if (!deliveryWindow || receiptDueAt === undefined || closer.aborted || deliverer.aborted) return;
    const { clock } = deliveryWindow;
    const ms = Math.max(0, receiptDueAt - deliveryWindow.marginMs - clock.now());
    deliveryTimer = clock.setTimeout(() => {
      if (closer.aborted || deliverer.aborted) return;
      const reason = `the client did not take the whole answer within ${ms} ms of its end`;
      overdue.abort(reason);
      call.close(reason);
    }, ms);
    // Not what keeps a process running: the call's own work does.
    (deliveryTimer as { unref?: () => void }).unref?.();
  };
  // Once, and awaited before the terminal frame goes on (a release must land before the client
  // can send its next request); a failing onEnd is its owner's to report, never the answer's.
  const end = () =>
    (ended ??= Promise.resolve()
      .then(() => options.onEnd?.())
      .then(
        () => undefined,
        () => undefined,
      ));
  const onDone = (frame: DoneFrame): DoneFrame => {
    startDeliveryTimer(call);
    return options.mapDone ? options.mapDone(frame) : frame;
  };
  const call: { -readonly [K in keyof Call]: Call[K] } = {
    frames: callFrames(source, { closed: closer, cancelled: canceller, delivered: deliverer, receiptDue }, end, onDone),
    close(reason) {
      if (closer.aborted || deliverer.aborted) return;
      stopDeliveryTimer();
      call.closedByClient = ended === undefined;
      closer.abort(reason);
      end().catch(() => undefined);
    },
    cancel(reason) {
      if (!ended && !canceller.aborted) canceller.abort(reason);
    },
    delivered() {
      if (closer.aborted || deliverer.aborted) return;
      stopDeliveryTimer();
      deliverer.abort('delivered');
    },
    // A field set by close(), not a getter: an object literal with a getter of its own gets a
    // map of its own, and V8 keeps such maps (and all the getter captured) alive past the young
    // generation's collections until a full one (BENCHMARKS.md, "Garbage collection").
    closedByClient: false,
    overdue,
  };
  return call;
}

/** The reason a signal was aborted with, as text for a cancel announcement. */
export function reasonOf(signal: SignalLike): string {
  const reason: unknown = signal.reason;
  return typeof reason === 'string' ? reason : reason instanceof Error ? reason.message : 'cancelled';
}

/** Runs `listener` once when `signal` aborts (at once if it has); returns the removal. */
export function onAbort(signal: SignalLike, listener: () => void): () => void {
  if (signal.aborted) {
    listener();
    return () => undefined;
  }
  signal.addEventListener('abort', listener, { once: true });
  return () => signal.removeEventListener('abort', listener);
}
