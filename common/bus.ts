import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { Svcm } from '@nats-io/services';
import { connect, errors, type Msg, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import { isSetupApiSubject } from './jetstream-resources.js';
import type { Logger } from './logger.js';
import { natsServerAdvisory } from './nats-version.js';
import { describeCredentials, inboxPrefixOf, natsConnectOptions, natsServers, type BusRole } from './nats-client.js';
import type { NatsClientSettings } from './nats-client.js';
import { randomBytesPooled } from './random-bytes.js';
import { PublishQueue } from './publish-queue.js';
import { ReplyMux } from './reply-mux.js';
import { ReleasingSet } from './releasing-map.js';
import { withTimeout } from './timeout.js';

/** A message as a subscriber sees it (nats.js's `Msg` has these fields). */
export interface BusMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  /** The reply subject, or "" / undefined when the sender expects none. */
  readonly reply?: string | undefined;
  readonly headers?: MsgHdrs | undefined;
}

/** A NATS server as its INFO describes it. */
export interface BusServer {
  /** server_name (the server's id when it has none). */
  readonly name: string;
  /** The cluster's name; undefined for a server not in a cluster. */
  readonly cluster: string | undefined;
  /** The client URLs of the cluster's servers the server announces (its own included). */
  readonly connectUrls: readonly string[];
}

export type BusCallback = (err: Error | null, msg: BusMessage) => void;

/** A subscription as agentbus uses one (nats.js's `Subscription` has these methods). */
export interface BusSubscription {
  unsubscribe(): void;
  getSubject(): string;
}

/** What {@link Bus.request} takes besides subject and payload. */
export interface RequestOptions {
  timeoutMs: number;
  headers?: MsgHdrs;
  /** The reply inbox's scope ({@link Bus.newInbox}). */
  inboxScope?: string;
  /**
   * Still sent after {@link Bus.failInboxes}: a receipt of an answer its client already has, which
   * the worker would otherwise discard.
   */
  outlivesStop?: boolean;
}

/** NATS's answer to a request nobody serves, as a status message: empty, with code 503. */
export const isNoRespondersReply = (msg: { data: Uint8Array; headers?: { code: number } | undefined }): boolean =>
  msg.data.length === 0 && msg.headers?.code === 503;

/** NATS's answer to a request nobody serves, as the error nats.js's `request` rejects with. */
export const isNoRespondersError = (err: unknown): boolean =>
  err instanceof errors.RequestError && err.isNoResponders();

/** A publish nats.js (or {@link Bus.publish}) refused for a payload over the server's max_payload. */
export const isOverMaxPayload = (err: unknown): boolean => err instanceof Error && /max.?payload/i.test(err.message);

/** What {@link Bus.publish} takes besides subject and payload. */
export interface PublishOptions {
  reply?: string;
  headers?: MsgHdrs;
}

/**
 * The message bus as agentbus uses it: one object that owns the NATS connection, its state, the
 * role's inbox prefix, publishing (coalesced), request/subscribe, and drain. Gateway, workers
 * and scripts are handed a Bus, never a raw connection, so behaviour never depends on how a
 * connection was made. Unit tests use a fake of this interface (test/helpers/fake-bus.ts).
 */
export interface Bus {
  /** Who this process is on the bus; its inboxes are `_INBOX.<role>.…`. */
  readonly role: BusRole;
  /** True while the server can be reached; publishes during an outage would only be buffered. */
  readonly connected: boolean;
  /** Why the bus is down, for `/ready` and error messages; undefined while connected. */
  readonly problem: string | undefined;
  /** When the connection last went up or down (ms since the epoch). */
  readonly since: number;
  /** Calls `listener` on every change up or down; returns the unsubscribe. */
  onChange(listener: (bus: Bus) => void): () => void;
  /** True once closed for good (after drain() or close()). */
  readonly closed: boolean;
  /** The server's largest message, in bytes; undefined before the first connection. */
  readonly maxPayload: number | undefined;
  /** The server this connection is on now, as its INFO says; undefined before the first connection. */
  readonly server: BusServer | undefined;
  /**
   * A fresh reply inbox under the role's prefix, ending in 128 random bits: a worker may publish
   * to every gateway inbox of its agents, so an inbox must not be guessable from others it has
   * seen. `scope` (bus-schemas `inboxScopes`) goes between: `_INBOX.gateway.chat.<agent>.<random>`.
   */
  newInbox(scope?: string): string;
  /**
   * Publishes `data`. The publishes of one event-loop turn leave in one socket write (see
   * publish-queue.ts). Throws at once, like nats.js, for a closed or draining connection, an
   * invalid subject and a payload over the server's max_payload.
   */
  publish(subject: string, data?: Uint8Array, options?: PublishOptions): void;
  subscribe(subject: string, options: { queue?: string; callback: BusCallback }): BusSubscription;
  /**
   * A reply inbox of this role in `scope` for a stream of replies (a chat request's frames): its
   * subject (`getSubject()`) ends in 128 random bits; its messages go to `callback` until
   * `unsubscribe()`, after which a request sent there finds "no responders". One subscription per
   * scope serves all of them and the requests' (reply-mux.ts). Throws at once, like `subscribe`,
   * for a closed or draining connection, and after {@link failInboxes}.
   */
  subscribeInbox(scope: string, callback: BusCallback): BusSubscription;
  /**
   * One request, one reply, on a reply subject of this role in `inboxScope` ending in 128 random
   * bits (never nats.js's shared inbox); one subscription per scope serves them all (reply-mux.ts).
   * The request is published as {@link Bus.publish} publishes: after what was published before it.
   */
  request(subject: string, data: Uint8Array, options: RequestOptions): Promise<Msg>;
  /**
   * Ends every stream of replies ({@link subscribeInbox}) with `err`, as a failed subscription would, so
   * each owner's error path runs (a stopping gateway's 503 for the answers it still awaits); requests
   * keep waiting. For a stop only: it walks every inbox, where per-request bookkeeping would cost CPU.
   * It sticks: a later `subscribeInbox` throws `err`, a later `request` (unless `outlivesStop`) rejects
   * with it, so a call opened after the walk (a retry, a fan-out's combining step) gets the same answer.
   */
  failInboxes(err: Error): void;
  /** Resolves once the server has seen everything published so far. */
  flush(): Promise<void>;
  /** JetStream clients, KV and micro services, for the nats.js libraries that take a connection. */
  jetstream(options?: { timeoutMs?: number }): JetStreamClient;
  jetstreamManager(options?: { timeoutMs?: number; checkAPI?: boolean }): Promise<JetStreamManager>;
  kvm(options?: { timeoutMs?: number }): Kvm;
  services(): Svcm;
  /**
   * Drains the connection (pending messages out, subscriptions emptied), closing it outright
   * after `timeoutMs`: during an outage a drain cannot finish, and a stopping process must exit.
   */
  drain(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

/** How to reach the bus. */
export interface BusOptions {
  /** NATS_URL: one URL or a comma-separated list of servers. */
  url: string;
  role: BusRole;
  /** Connection name shown by the server (`nats server report connections`). */
  name: string;
  log: Logger;
  /** Credentials and TLS files of the role (NATS_USER, NATS_PASSWORD[_FILE], NATS_TLS_*). */
  client?: NatsClientSettings | undefined;
}

/** True for the server's "Authorization Violation" (no, unknown or wrong credentials). */
export function isAuthorizationError(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (e instanceof errors.AuthorizationError || /authorization violation/i.test(e.message)) return true;
  }
  return false;
}

/**
 * Connects to NATS, reconnecting forever after the first success: a NATS restart must not need
 * a gateway or worker restart (subscriptions, micro services included, are renewed by nats.js).
 * The first connection fails fast with the URL named, and a refused login says which credential
 * variables to set.
 */
export async function connectBus(options: BusOptions): Promise<Bus> {
  const { url, client } = options;
  // One role per bus: its credentials, its inboxes and its grants in nats.conf go together.
  if (client && client.role !== options.role) {
    throw new Error(`bus credentials of the ${client.role} role given to a ${options.role} connection`);
  }
  let nc: NatsConnection;
  try {
    nc = await connect({
      // Any one of them will do: nats.js tries each at the first connection, and afterwards
      // reconnects to any server of the cluster (it learns them from the servers' INFO).
      servers: natsServers(url),
      name: options.name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      timeout: 5000,
      ...natsConnectOptions(client),
      inboxPrefix: client?.inboxPrefix ?? inboxPrefixOf(options.role),
    });
  } catch (err) {
    if (isAuthorizationError(err)) {
      throw new Error(
        `NATS at ${url} (NATS_URL) refused the connection (Authorization Violation): ${describeCredentials(client)}. ` +
          '"npm start" keeps each role\'s password in DATA_DIR/nats-credentials/<role>.password (docs/security.md).',
        { cause: err },
      );
    }
    throw new Error(
      `cannot connect to NATS at ${url} (NATS_URL): ${(err as Error).message}. ` +
        'Start the whole stack with "npm start", or point NATS_URL at a running nats-server.',
      { cause: err },
    );
  }
  // Every process says it, whoever started the server: an outdated one is a hole in the bus's locks.
  const advisory = natsServerAdvisory(nc.info?.version);
  if (advisory) options.log.warn({ natsVersion: nc.info?.version }, advisory);
  return new NatsBus(nc, options);
}

/** Bytes of the NATS header block nats.js would send for `headers` (NATS/1.0 line, k: v lines). */
function headerBytes(headers: MsgHdrs | undefined): number {
  if (!headers) return 0;
  let bytes = 12; // "NATS/1.0\r\n" and the closing "\r\n"
  for (const [key, values] of headers) for (const value of values) bytes += Buffer.byteLength(`${key}: ${value}\r\n`);
  return bytes;
}

const INVALID_SUBJECT = /^$|\s/;

class NatsBus implements Bus {
  readonly role: BusRole;
  readonly #nc: NatsConnection;
  /** One reply subscription per inbox scope ('' for none), shared by all requests and inboxes (reply-mux.ts). */
  readonly #muxes = new Map<string, ReplyMux>();
  /** The muxes publish requests and answers through the queue: in order, in the turn's one write. */
  readonly #queuedPublish = this.publish.bind(this);
  readonly #log: Logger;
  readonly #user: string | undefined;
  readonly #inboxPrefix: string;
  readonly #listeners = new ReleasingSet<(bus: Bus) => void>();
  readonly #queue: PublishQueue;
  #up = true;
  #since = Date.now();
  #problem: string | undefined;
  /** What {@link failInboxes} was given: the calls opened after it fail with it at once. */
  #stopped: Error | undefined;

  constructor(nc: NatsConnection, options: BusOptions) {
    this.#nc = nc;
    this.role = options.role;
    this.#log = options.log;
    this.#user = options.client?.user;
    this.#inboxPrefix = options.client?.inboxPrefix ?? inboxPrefixOf(options.role);
    this.#queue = new PublishQueue(
      (subject, data, publishOptions) => nc.publish(subject, data, publishOptions),
      (err) => this.#log.error({ err }, 'NATS refused a publish after it was queued'),
    );
    this.#watchStatus().catch((err: unknown) => this.#log.error({ err }, 'watching the NATS connection failed'));
  }

  get connected(): boolean {
    return this.#up && !this.#nc.isClosed();
  }

  get problem(): string | undefined {
    if (this.#nc.isClosed()) return 'the NATS connection is closed';
    return this.#up ? undefined : this.#problem;
  }

  get since(): number {
    return this.#since;
  }

  get closed(): boolean {
    return this.#nc.isClosed();
  }

  get maxPayload(): number | undefined {
    return this.#nc.info?.max_payload;
  }

  get server(): BusServer | undefined {
    const info = this.#nc.info;
    if (!info) return undefined;
    return {
      name: info.server_name || info.server_id,
      cluster: info.cluster || undefined,
      connectUrls: info.connect_urls ?? [],
    };
  }

  onChange(listener: (bus: Bus) => void): () => void {
    return this.#listeners.add(listener);
  }

  newInbox(scope?: string): string {
    const random = randomBytesPooled(16).toString('base64url');
    return scope === undefined ? `${this.#inboxPrefix}.${random}` : `${this.#inboxPrefix}.${scope}.${random}`;
  }

  publish(subject: string, data: Uint8Array = new Uint8Array(0), options?: PublishOptions): void {
    // nats.js's own checks, made now: the queued publish runs later, when nobody could catch.
    if (this.#nc.isClosed()) throw new errors.ClosedConnectionError();
    if (this.#nc.isDraining()) throw new errors.DrainingConnectionError();
    if (INVALID_SUBJECT.test(subject)) throw new errors.InvalidSubjectError(subject);
    if (options?.reply !== undefined && INVALID_SUBJECT.test(options.reply)) {
      throw new errors.InvalidSubjectError(options.reply);
    }
    const max = this.maxPayload;
    if (max !== undefined && data.length + headerBytes(options?.headers) > max) {
      throw errors.InvalidArgumentError.format('payload', 'max_payload size exceeded');
    }
    this.#queue.push(subject, data, options);
  }

  subscribe(subject: string, options: { queue?: string; callback: BusCallback }): BusSubscription {
    return this.#nc.subscribe(subject, options);
  }

  subscribeInbox(scope: string, callback: BusCallback): BusSubscription {
    if (this.#stopped) throw this.#stopped;
    return this.#mux(scope).listen(callback);
  }

  request(subject: string, data: Uint8Array, options: RequestOptions): Promise<Msg> {
    try {
      if (this.#stopped && !options.outlivesStop) throw this.#stopped;
      return this.#mux(options.inboxScope).request(subject, data, options.timeoutMs, options.headers);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  failInboxes(err: Error): void {
    this.#stopped = err;
    for (const mux of this.#muxes.values()) mux.failStreams(err);
  }

  /** The reply subscription of `scope`, made on first use (and again after it closed). */
  #mux(scope: string | undefined): ReplyMux {
    // nats.js's own checks (closed, draining) before a mux is made for nothing.
    if (this.#nc.isClosed()) throw new errors.ClosedConnectionError();
    if (this.#nc.isDraining()) throw new errors.DrainingConnectionError();
    let mux = this.#muxes.get(scope ?? '');
    if (!mux || mux.closed) {
      mux = new ReplyMux(this.#nc, this.newInbox(scope), this.#queuedPublish);
      this.#muxes.set(scope ?? '', mux);
    }
    return mux;
  }

  flush(): Promise<void> {
    this.#queue.flush();
    return this.#nc.flush();
  }

  jetstream(options: { timeoutMs?: number } = {}): JetStreamClient {
    this.#queue.flush();
    return jetstream(this.#nc, options.timeoutMs === undefined ? {} : { timeout: options.timeoutMs });
  }

  jetstreamManager(options: { timeoutMs?: number; checkAPI?: boolean } = {}): Promise<JetStreamManager> {
    this.#queue.flush();
    return jetstreamManager(this.#nc, {
      ...(options.timeoutMs === undefined ? {} : { timeout: options.timeoutMs }),
      ...(options.checkAPI === undefined ? {} : { checkAPI: options.checkAPI }),
    });
  }

  kvm(options: { timeoutMs?: number } = {}): Kvm {
    return new Kvm(this.jetstream(options));
  }

  services(): Svcm {
    return new Svcm(this.#nc);
  }

  async drain(timeoutMs: number): Promise<void> {
    if (this.#nc.isClosed()) return;
    this.#queue.flush();
    const drained = this.#nc.drain().then(
      () => 'drained' as const,
      (err: unknown) => {
        this.#log.warn({ err }, 'NATS drain failed while stopping');
        return 'failed' as const;
      },
    );
    const outcome = await withTimeout(drained, timeoutMs, () => 'late' as const);
    if (outcome === 'drained') return;
    if (outcome === 'late') {
      this.#log.warn({ timeoutMs }, 'NATS drain did not finish in time (is NATS down?): closing the connection');
    }
    await this.close();
  }

  async close(): Promise<void> {
    this.#queue.flush();
    await this.#nc.close().catch(() => undefined);
  }

  #set(up: boolean, why?: string): void {
    if (up === this.#up) return;
    this.#up = up;
    this.#since = Date.now();
    this.#problem = why;
    for (const listener of this.#listeners.values()) listener(this);
  }

  async #watchStatus(): Promise<void> {
    for await (const status of this.#nc.status()) {
      if (status.type === 'disconnect') {
        this.#set(false, `disconnected from NATS at ${status.server}; reconnecting`);
        this.#log.warn({ nats: status }, 'NATS connection problem');
      } else if (status.type === 'reconnect') {
        this.#set(true);
        this.#log.info({ nats: status }, 'NATS reconnected');
      } else if (status.type === 'error' && status.error instanceof errors.PermissionViolationError) {
        // A missing grant in nats.conf shows up here, not as a failed call: name the subject and user.
        const { operation, subject, queue } = status.error;
        // Creating a missing stream or bucket is tried to find out whether this user may; the
        // caller says what to do when not (jetstream-resources.ts), so this line would only mislead.
        if (operation === 'publish' && isSetupApiSubject(subject)) continue;
        const user = this.#user === undefined ? '' : ` "${this.#user}"`;
        this.#log.error(
          { nats: { operation, subject, queue, user: this.#user } },
          `NATS refused a ${operation} on "${subject}" (Permissions Violation): the bus user${user} is not allowed it`,
        );
      } else if (status.type === 'error') this.#log.warn({ nats: status }, 'NATS connection problem');
    }
    // The iterator ends when the connection closes for good.
    this.#set(false, 'the NATS connection is closed');
  }
}
