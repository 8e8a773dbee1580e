import { errors } from '@nats-io/transport-node';
import { isNoRespondersError, type Bus } from '../common/bus.js';
import { systemClock, type Clock, type TimerHandle } from '../common/clock.js';
import {
  AgentbusError,
  decodeDeliveryReceipt,
  encodeJson,
  type DoneFrame,
  type ErrorFrame,
  type UnsequencedFrame,
} from '../bus-schemas/index.js';
import { probeRequester } from './requester-probe.js';

type TerminalFrame = Omit<DoneFrame, 'seq' | 'request_id'> | Omit<ErrorFrame, 'seq' | 'request_id'>;

/**
 * What the requester said of a `done` sent as a request: delivered, or why not. `acknowledge`
 * ends the requester's resending (sent once, however often it is called); call it once memory
 * matches the receipt, so that a worker dying (or a write failing) in between leaves the receipt
 * unacknowledged and another worker commits.
 */
export type Receipt = ({ delivered: true } | { delivered: false; why: string }) & { acknowledge(): void };

const unanswerable = { acknowledge: () => undefined };

// The same answer as a message (what a request sees when its client does not turn it into an error).

/**
 * The frames of one request's answer, published on its reply subject. Stamps `seq` in order
 * (a frame that could not be published does not use up a number, so the receiver's gap check
 * stays truthful; a held frame's number is taken when it is held, and a bus that refuses it then
 * refuses what follows too), sends heartbeats while the model thinks, and guarantees at most one
 * terminal frame followed by the empty sentinel, after which nothing more is sent.
 */
export class ReplyStream {
  #seq = 0;
  #finished = false;
  #heartbeat: TimerHandle | undefined;
  /** A frame kept back to go out with the next one (see {@link hold}). */
  #held: Uint8Array | undefined;

  constructor(
    private readonly bus: Pick<Bus, 'publish' | 'request'>,
    private readonly replySubject: string,
    private readonly requestId: string,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Publishes one non-terminal frame; throws `internal_error` when NATS refuses it. */
  send(frame: UnsequencedFrame): void {
    if (this.#finished) return;
    this.#publish(frame);
  }

  /**
   * Numbers the frame as send() would, but keeps it back: it goes out just before the next frame
   * (a heartbeat, the answer, the terminal frame), in the same socket write. For the `ack` of a
   * non-streamed answer, which nobody reads before the answer: sent alone, it was one more write
   * and two wake-ups (nats-server, gateway) during the model call (BENCHMARKS.md, row 48).
   */
  hold(frame: UnsequencedFrame): void {
    if (this.#finished) return;
    this.#sendHeld();
    this.#held = encodeJson(this.#stamp(frame));
  }

  /**
   * Sends a heartbeat every `intervalMs` until the terminal frame (or until NATS refuses one).
   * Each goes out with a reply subject of its own, which the requester ignores: when nobody is
   * subscribed to the reply inbox any more (the gateway died, or was cut off from NATS), the
   * server answers "no responders" and `onRequesterGone` runs (once), so the worker stops a
   * model call whose answer nobody can receive — publishing to a dead inbox alone is silent.
   */
  startHeartbeat(intervalMs: number, onRequesterGone?: () => void): void {
    let gone = false;
    const requesterGone = () => {
      if (gone || this.#finished) return;
      gone = true;
      onRequesterGone?.();
    };
    this.#heartbeat ??= this.clock.setInterval(() => {
      try {
        if (this.#finished) return;
        this.#sendHeld();
        if (!onRequesterGone) {
          this.send({ type: 'heartbeat' });
          return;
        }
        const frame = { type: 'heartbeat', seq: this.#seq, request_id: this.requestId };
        probeRequester(this.bus, this.replySubject, encodeJson(frame), intervalMs, requesterGone);
        // Counted only once it went out, as every frame (no gap in `seq` for a refused one).
        this.#seq++;
      } catch {
        // The connection is gone; the terminal frame will fail the same way and be reported there.
        this.clock.clearTimeout(this.#heartbeat);
      }
    }, intervalMs);
  }

  /** Publishes the terminal frame and the sentinel. Never throws; false when NATS refused them. */
  finish(frame: TerminalFrame): boolean {
    if (this.#finished) return false;
    this.#finished = true;
    this.clock.clearTimeout(this.#heartbeat);
    try {
      this.#publish(frame);
      this.bus.publish(this.replySubject);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Sends the `done` of a pending turn as a request (protocol v2) and waits up to `waitMs` for
   * the requester's delivery receipt; the empty sentinel follows the done at once. Never throws:
   * no responders (the requester is gone), no answer in time, or a bus failure all read as
   * not delivered, so the turn is never committed for a client that did not get it.
   */
  async finishAwaitingReceipt(frame: Omit<DoneFrame, 'seq' | 'request_id'>, waitMs: number): Promise<Receipt> {
    if (this.#finished) return { delivered: false, why: 'the answer was finished already', ...unanswerable };
    this.#finished = true;
    this.clock.clearTimeout(this.#heartbeat);
    let pending: Promise<{ data: Uint8Array; reply?: string | undefined }>;
    try {
      this.#sendHeld();
      pending = this.bus.request(this.replySubject, encodeJson(this.#stamp(frame)), { timeoutMs: waitMs });
      this.bus.publish(this.replySubject);
    } catch (err) {
      return { delivered: false, why: `the done frame could not be sent: ${(err as Error).message}`, ...unanswerable };
    }
    try {
      const msg = await pending;
      const receipt = decodeDeliveryReceipt(msg.data);
      // The acknowledgement ends the requester's retries (it resends a receipt until one arrives).
      let acknowledged = false;
      const acknowledge = () => {
        if (acknowledged || !msg.reply) return;
        acknowledged = true;
        this.#acknowledge(msg.reply);
      };
      if (receipt.delivered) return { delivered: true, acknowledge };
      const why = receipt.reason ?? 'the requester says the client did not receive it';
      return { delivered: false, why, acknowledge };
    } catch (err) {
      const why = isNoRespondersError(err)
        ? 'the requester is gone (no responders)'
        : err instanceof errors.TimeoutError
          ? `no delivery receipt within ${waitMs} ms`
          : `no valid delivery receipt: ${(err as Error).message}`;
      return { delivered: false, why, ...unanswerable };
    }
  }

  #acknowledge(subject: string): void {
    try {
      this.bus.publish(subject);
    } catch {
      // Unacknowledged, the requester sends the receipt again: this worker's inbox no longer takes
      // it, and a delivered answer's goes to memory.commit, where any worker commits it (a no-op once done).
    }
  }

  /** The frame with this stream's next `seq` and the request id. */
  #stamp(frame: UnsequencedFrame | TerminalFrame): object {
    const { type, ...rest } = frame;
    return { type, seq: this.#seq++, request_id: this.requestId, ...rest };
  }

  /** Publishes the held frame, if any; throws `internal_error` when NATS refuses it. */
  #sendHeld(): void {
    const held = this.#held;
    if (!held) return;
    this.#held = undefined;
    this.#put(held, 'a held frame');
  }

  #publish(frame: UnsequencedFrame): void {
    this.#sendHeld();
    const { type, ...rest } = frame;
    this.#put(encodeJson({ type, seq: this.#seq, request_id: this.requestId, ...rest }), `the ${type} frame`);
    this.#seq++;
  }

  /** One frame on the reply subject; `internal_error` naming `what` when NATS refuses it. */
  #put(data: Uint8Array, what: string): void {
    try {
      this.bus.publish(this.replySubject, data);
    } catch (err) {
      throw new AgentbusError('internal_error', `could not publish ${what}: ${(err as Error).message}`, { cause: err });
    }
  }
}
