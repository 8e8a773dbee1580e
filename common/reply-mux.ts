import {
  errors,
  headers as natsHeaders,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type Subscription,
} from '@nats-io/transport-node';
import type { BusCallback, BusMessage, BusSubscription, PublishOptions } from './bus.js';
import { randomBytesPooled } from './random-bytes.js';
import { ReleasingMap } from './releasing-map.js';

// Every chat request used to subscribe a fresh reply inbox and unsubscribe it at the end, and
// its two requests (the worker's `done` awaiting the receipt, the gateway's receipt awaiting its
// acknowledgement) did the same through nats.js's `noMux` request: protocol lines, nats-server
// sublist work, a nats.js subscription (and for a request a timer and two errors with stacks) per
// request. Here one wildcard subscription per inbox scope serves them all; each reply subject
// still ends in 128 random bits of its own, so it is no easier to guess than before (issue 21,
// BENCHMARKS.md).

const EMPTY = new Uint8Array(0);
/** What a failed subscription's callback gets as message (nats.js passes `{}`). */
const EMPTY_MESSAGE: BusMessage = { subject: '', data: EMPTY };

/** One reply subject's owner: a request awaiting one reply, or a stream of frames. */
interface Entry {
  deliver(msg: Msg): void;
  /**
   * The subscription failed or closed: nothing more will arrive. `streamsOnly`: a stopping process
   * ends the streams it still awaits ({@link ReplyMux.failStreams}); a request keeps waiting.
   */
  fail(err: Error, closed: boolean, streamsOnly?: boolean): void;
}

type Publish = (subject: string, data: Uint8Array, options?: PublishOptions) => void;

/** The errors nats.js's own request rejects with, so callers' checks keep working. */
const noResponders = (subject: string) =>
  new errors.RequestError(`no responders: '${subject}'`, { cause: new errors.NoRespondersError(subject) });

const isNoResponders = (msg: Msg) => msg.data.length === 0 && msg.headers?.code === 503;

/** Reply subjects `<prefix>.<random>` whose messages arrive on one subscription to `<prefix>.*`. */
export class ReplyMux {
  readonly #prefix: string;
  readonly #publish: Publish;
  readonly #entries = new ReleasingMap<string, Entry>();
  readonly #sub: Subscription;

  /**
   * `prefix`: a fresh inbox of this process (`_INBOX.<role>.<scope>.<random>`). `publish`: the
   * Bus's, so requests and answers leave in the event-loop turn's one socket write, in order.
   */
  constructor(nc: NatsConnection, prefix: string, publish: Publish) {
    this.#prefix = prefix;
    this.#publish = publish;
    this.#sub = nc.subscribe(`${prefix}.*`, { callback: (err, msg) => (err ? this.#failAll(err) : this.#route(msg)) });
    // Closed with the connection (or drained): nobody can answer the requests still waiting.
    this.#sub.closed.then(
      () => this.#failAll(new errors.ClosedConnectionError(), true),
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
        this.#entries.delete(token);
        reject(new errors.TimeoutError());
      }, timeoutMs);
      const settle = () => {
        this.#entries.delete(token);
        clearTimeout(timer);
      };
      this.#entries.set(token, {
        deliver: (msg) => {
          settle();
          if (isNoResponders(msg)) reject(noResponders(subject));
          else resolve(msg);
        },
        fail: (err, _closed, streamsOnly) => {
          if (streamsOnly) return;
          settle();
          reject(err);
        },
      });
      try {
        this.#publish(subject, data, { reply: `${this.#prefix}.${token}`, ...(headers ? { headers } : {}) });
      } catch (err) {
        settle();
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  /**
   * A reply subject of its own whose messages go to `callback` until `unsubscribe()`. Like a
   * nats.js subscription, `callback` gets an error when the subscription fails, and nothing when
   * the connection closes (the Bus's `onChange` says so).
   */
  listen(callback: BusCallback): BusSubscription {
    const token = randomBytesPooled(16).toString('base64url');
    const subject = `${this.#prefix}.${token}`;
    this.#entries.set(token, {
      deliver: (msg) => callback(null, msg),
      fail: (err, closed) => {
        if (!closed) callback(err, EMPTY_MESSAGE);
      },
    });
    return {
      unsubscribe: () => this.#entries.delete(token),
      getSubject: () => subject,
    };
  }

  /**
   * Ends each stream of replies ({@link listen}) with `err`, as a failed subscription would; their
   * owners unsubscribe. Requests (a receipt awaiting its ack) keep waiting. Walks every entry: for a stop only.
   */
  failStreams(err: Error): void {
    for (const entry of this.#entries.values()) {
      // One owner's throw must not leave the others waiting (nor reject the stop that walks them).
      try {
        entry.fail(err, false, true);
      } catch {
        // Its owner's own fault; the others are still told.
      }
    }
  }

  #route(msg: Msg): void {
    const token = msg.subject.slice(this.#prefix.length + 1);
    const entry = this.#entries.get(token);
    if (entry) {
      entry.deliver(msg);
      return;
    }
    // Late (the call is over) or a second answer: nobody waits for it. A request sent here (a
    // worker's heartbeat probe, a copy of a delivery receipt) gets what an unsubscribed inbox gave
    // it, "no responders", so its sender stops at once as before (docs/bus.md).
    try {
      if (msg.reply) this.#publish(msg.reply, EMPTY, { headers: natsHeaders(503, 'No Responders') });
    } catch {
      // Closing: the sender finds no responders (or silence) on its own.
    }
  }

  #failAll(err: unknown, closed = false): void {
    const error = err instanceof Error ? err : new Error(String(err));
    for (const entry of this.#entries.values()) entry.fail(error, closed);
    this.#entries.clear();
  }
}
