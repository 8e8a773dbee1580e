import type { Bus } from '../common/bus.js';
import { systemClock, type Clock, type TimerHandle } from '../common/clock.js';
import {
  AgentbusError,
  encodeJson,
  type DoneFrame,
  type ErrorFrame,
  type UnsequencedFrame,
} from '../bus-schemas/index.js';

type TerminalFrame = Omit<DoneFrame, 'seq' | 'request_id'> | Omit<ErrorFrame, 'seq' | 'request_id'>;

/**
 * The frames of one request's answer, published on its reply subject. Stamps `seq` in order
 * (a frame that could not be published does not use up a number, so the receiver's gap check
 * stays truthful), sends heartbeats while the model thinks, and guarantees at most one terminal
 * frame followed by the empty sentinel, after which nothing more is sent.
 */
export class ReplyStream {
  #seq = 0;
  #finished = false;
  #heartbeat: TimerHandle | undefined;

  constructor(
    private readonly bus: Pick<Bus, 'publish'>,
    private readonly replySubject: string,
    private readonly requestId: string,
    private readonly clock: Clock = systemClock,
  ) {}

  /** Publishes one non-terminal frame; throws `internal_error` when NATS refuses it. */
  send(frame: UnsequencedFrame): void {
    if (this.#finished) return;
    this.#publish(frame);
  }

  /** Sends a heartbeat every `intervalMs` until the terminal frame (or until NATS refuses one). */
  startHeartbeat(intervalMs: number): void {
    this.#heartbeat ??= this.clock.setInterval(() => {
      try {
        this.send({ type: 'heartbeat' });
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

  #publish(frame: UnsequencedFrame): void {
    const { type, ...rest } = frame;
    try {
      this.bus.publish(this.replySubject, encodeJson({ type, seq: this.#seq, request_id: this.requestId, ...rest }));
    } catch (err) {
      throw new AgentbusError('internal_error', `could not publish the ${type} frame: ${(err as Error).message}`, {
        cause: err,
      });
    }
    this.#seq++;
  }
}
