import { Empty, type NatsConnection } from '@nats-io/transport-node';
import { encodeJson, type DoneFrame, type ErrorFrame, type UnsequencedFrame } from '../bus-schemas/index.js';

type TerminalFrame = Omit<DoneFrame, 'seq' | 'request_id'> | Omit<ErrorFrame, 'seq' | 'request_id'>;

/**
 * The frames of one request's answer, published on its reply subject. Stamps `seq` in order,
 * sends heartbeats while the model thinks, and guarantees one terminal frame followed by the
 * empty sentinel message, after which nothing more is sent.
 */
export class ReplyStream {
  #seq = 0;
  #finished = false;
  #heartbeat: NodeJS.Timeout | undefined;

  constructor(
    private readonly nc: Pick<NatsConnection, 'publish'>,
    private readonly replySubject: string,
    private readonly requestId: string,
  ) {}

  get finished(): boolean {
    return this.#finished;
  }

  /** Publishes one non-terminal frame. */
  send(frame: UnsequencedFrame): void {
    if (this.#finished) return;
    this.#publish(frame);
  }

  /** Sends a heartbeat every `intervalMs` until the terminal frame. */
  startHeartbeat(intervalMs: number): void {
    this.#heartbeat ??= setInterval(() => this.send({ type: 'heartbeat' }), intervalMs);
  }

  /** Publishes the terminal frame and the sentinel; later calls do nothing. */
  finish(frame: TerminalFrame): void {
    if (this.#finished) return;
    clearInterval(this.#heartbeat);
    this.#publish(frame);
    this.#finished = true;
    this.nc.publish(this.replySubject, Empty);
  }

  #publish(frame: UnsequencedFrame): void {
    const { type, ...rest } = frame;
    this.nc.publish(this.replySubject, encodeJson({ type, seq: this.#seq++, request_id: this.requestId, ...rest }));
  }
}
