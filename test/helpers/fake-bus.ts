import { errors, headers as natsHeaders, type Msg, type MsgHdrs } from '@nats-io/transport-node';
import type {
  Bus,
  BusCallback,
  BusMessage,
  BusServer,
  BusSubscription,
  PublishOptions,
  RequestOptions,
} from '../../common/bus.js';
import { systemClock, type Clock } from '../../common/clock.js';
import type { BusRole } from '../../common/nats-client.js';

interface FakeSubscription extends BusSubscription {
  readonly subject: string;
  readonly queue: string | undefined;
  readonly callback: BusCallback;
  closed: boolean;
}

/** A message the code under test published, as the fake recorded it. */
export interface Published {
  subject: string;
  data: Uint8Array;
  reply: string | undefined;
  headers: MsgHdrs | undefined;
}

/** NATS subject matching: `*` is one token, a final `>` one or more. */
export function subjectMatches(pattern: string, subject: string): boolean {
  const want = pattern.split('.');
  const have = subject.split('.');
  for (let i = 0; i < want.length; i++) {
    if (want[i] === '>') return have.length > i;
    if (i >= have.length || (want[i] !== '*' && want[i] !== have[i])) return false;
  }
  return want.length === have.length;
}

/**
 * An in-memory {@link Bus} for unit tests: publishes reach matching subscriptions (one member
 * per queue group) on the next microtask, as NATS delivers asynchronously; everything published
 * is recorded in `published`. It has no JetStream and no micro services.
 */
export class FakeBus implements Bus {
  readonly published: Published[] = [];
  connected = true;
  problem: string | undefined;
  since = 0;
  closed = false;
  maxPayload: number | undefined = 1024 * 1024;
  server: BusServer | undefined = { name: 'fake', cluster: undefined, connectUrls: [] };
  readonly #subs: FakeSubscription[] = [];
  /** Those of {@link subscribeInbox}: the streams {@link failInboxes} ends (not the requests'). */
  readonly #inboxSubs: FakeSubscription[] = [];
  readonly #listeners = new Set<(bus: Bus) => void>();
  #inboxes = 0;
  /** What {@link failInboxes} was given: later inboxes and requests fail with it, as NatsBus's do. */
  #stopped: Error | undefined;

  constructor(
    readonly role: BusRole = 'gateway',
    private readonly clock: Clock = systemClock,
  ) {}

  /** Takes the connection down or up, telling the listeners as nats.js status events would. */
  setConnected(up: boolean, problem = 'disconnected (test)'): void {
    this.connected = up;
    this.problem = up ? undefined : problem;
    this.since = this.clock.now();
    for (const listener of this.#listeners) listener(this);
  }

  onChange(listener: (bus: Bus) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  newInbox(scope?: string): string {
    return `_INBOX.${this.role}.${scope === undefined ? '' : `${scope}.`}fake${++this.#inboxes}`;
  }

  publish(subject: string, data: Uint8Array = new Uint8Array(0), options?: PublishOptions): void {
    if (this.closed) throw new errors.ClosedConnectionError();
    if (this.maxPayload !== undefined && data.length > this.maxPayload) {
      throw errors.InvalidArgumentError.format('payload', 'max_payload size exceeded');
    }
    const message = { subject, data, reply: options?.reply, headers: options?.headers };
    this.published.push(message);
    if (!this.connected) return; // nats.js would buffer it; the tests treat it as lost
    queueMicrotask(() => this.#deliver(message));
  }

  subscribe(subject: string, options: { queue?: string; callback: BusCallback }): BusSubscription {
    const sub: FakeSubscription = {
      subject,
      queue: options.queue,
      callback: options.callback,
      closed: false,
      unsubscribe: () => {
        sub.closed = true;
      },
      getSubject: () => subject,
    };
    this.#subs.push(sub);
    return sub;
  }

  /** A plain subscription to a fresh inbox: the fake answers "no responders" once it is closed. */
  subscribeInbox(scope: string, callback: BusCallback): BusSubscription {
    if (this.closed) throw new errors.ClosedConnectionError();
    if (this.#stopped) throw this.#stopped;
    const sub = this.subscribe(this.newInbox(scope), { callback }) as FakeSubscription;
    this.#inboxSubs.push(sub);
    return sub;
  }

  failInboxes(err: Error): void {
    this.#stopped = err;
    for (const sub of [...this.#inboxSubs])
      if (!sub.closed) sub.callback(err, { subject: '', data: new Uint8Array(0) });
  }

  /** Subscriptions still open on `subject` (exactly that pattern). */
  subscribers(subject: string): number {
    return this.#subs.filter((sub) => !sub.closed && sub.subject === subject).length;
  }

  request(subject: string, data: Uint8Array, options: RequestOptions): Promise<Msg> {
    if (this.#stopped && !options.outlivesStop) return Promise.reject(this.#stopped);
    const inbox = this.newInbox(options.inboxScope);
    return new Promise<Msg>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        sub.unsubscribe();
        reject(new errors.TimeoutError());
      }, options.timeoutMs);
      const sub = this.subscribe(inbox, {
        callback: (_err, msg) => {
          sub.unsubscribe();
          this.clock.clearTimeout(timer);
          resolve(msg as Msg);
        },
      });
      this.publish(subject, data, { reply: inbox, ...(options.headers ? { headers: options.headers } : {}) });
    });
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  jetstream(): never {
    throw new Error('FakeBus has no JetStream');
  }

  jetstreamManager(): never {
    throw new Error('FakeBus has no JetStream');
  }

  kvm(): never {
    throw new Error('FakeBus has no JetStream');
  }

  services(): never {
    throw new Error('FakeBus has no micro services');
  }

  drain(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  /** close(), for a test that needs no promise. */
  closeNow(): void {
    this.closed = true;
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  #deliver(message: Published): void {
    const msg: BusMessage = message;
    const groups = new Set<string>();
    let delivered = 0;
    for (const sub of this.#subs) {
      if (sub.closed || !subjectMatches(sub.subject, message.subject)) continue;
      if (sub.queue !== undefined) {
        if (groups.has(sub.queue)) continue;
        groups.add(sub.queue);
      }
      delivered++;
      sub.callback(null, msg);
    }
    // What NATS answers a request nobody serves: an empty message with status 503.
    if (delivered === 0 && message.reply) {
      const status = {
        subject: message.reply,
        data: new Uint8Array(0),
        reply: undefined,
        headers: natsHeaders(503, 'No Responders'),
      };
      queueMicrotask(() => this.#deliver(status));
    }
  }
}
