import {
  errors,
  headers as natsHeaders,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type Subscription,
} from '@nats-io/transport-node';
import { randomBytesPooled } from './random-bytes.js';

// Every chat request makes two requests (the worker's `done` awaiting the receipt, the gateway's
// receipt awaiting its acknowledgement). nats.js's `noMux` request, which our scoped inboxes
// needed, subscribes and unsubscribes for each one (two protocol lines for nats-server, a
// subscription, a timer and two errors with stacks in our process). Here one wildcard
// subscription per inbox scope serves them all; each reply subject still ends in 128 random bits
// of its own, so it is no easier to guess than before (issue 21, BENCHMARKS.md).

const EMPTY = new Uint8Array(0);

interface Waiting {
  subject: string;
  timer: NodeJS.Timeout;
  resolve(msg: Msg): void;
  reject(err: unknown): void;
}

/** The errors nats.js's own request rejects with, so callers' checks keep working. */
const noResponders = (subject: string) =>
  new errors.RequestError(`no responders: '${subject}'`, { cause: new errors.NoRespondersError(subject) });

/** Requests whose replies arrive on one subscription to `<prefix>.*`. */
export class RequestMux {
  readonly #nc: NatsConnection;
  readonly #prefix: string;
  readonly #waiting = new Map<string, Waiting>();
  readonly #sub: Subscription;

  /** `prefix`: a fresh inbox of this process (`_INBOX.<role>.<scope>.<random>`). */
  constructor(nc: NatsConnection, prefix: string) {
    this.#nc = nc;
    this.#prefix = prefix;
    this.#sub = nc.subscribe(`${prefix}.*`, { callback: (_err, msg) => this.#reply(msg) });
    // Closed with the connection (or drained): nobody can answer the requests still waiting.
    this.#sub.closed.then(
      () => this.#failAll(new errors.ClosedConnectionError()),
      (err: unknown) => this.#failAll(err),
    );
  }

  get closed(): boolean {
    return this.#sub.isClosed();
  }

  request(subject: string, data: Uint8Array, timeoutMs: number, headers?: MsgHdrs): Promise<Msg> {
    const token = randomBytesPooled(16).toString('base64url');
    return new Promise<Msg>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(token);
        reject(new errors.TimeoutError());
      }, timeoutMs);
      this.#waiting.set(token, { subject, timer, resolve, reject });
      try {
        this.#nc.publish(subject, data, { reply: `${this.#prefix}.${token}`, ...(headers ? { headers } : {}) });
      } catch (err) {
        clearTimeout(timer);
        this.#waiting.delete(token);
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  #reply(msg: Msg | undefined): void {
    if (!msg) return;
    const token = msg.subject.slice(this.#prefix.length + 1);
    const waiting = this.#waiting.get(token);
    if (!waiting) {
      // Late (timed out) or a second answer: nobody waits for it. A request sent here (a copy of
      // a delivery receipt) gets what an unsubscribed inbox gave it, "no responders", so its
      // sender stops retrying at once as before (docs/bus.md, delivery receipts).
      try {
        if (msg.reply) this.#nc.publish(msg.reply, EMPTY, { headers: natsHeaders(503, 'No Responders') });
      } catch {
        // Closing: the sender finds no responders (or silence) on its own.
      }
      return;
    }
    this.#waiting.delete(token);
    clearTimeout(waiting.timer);
    if (msg.data.length === 0 && msg.headers?.code === 503) waiting.reject(noResponders(waiting.subject));
    else waiting.resolve(msg);
  }

  #failAll(err: unknown): void {
    for (const [token, waiting] of this.#waiting) {
      this.#waiting.delete(token);
      clearTimeout(waiting.timer);
      waiting.reject(err);
    }
  }
}
