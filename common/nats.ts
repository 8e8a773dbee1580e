import { randomBytesPooled as randomBytes } from './random-bytes.js';
import { connect, errors, type NatsConnection } from '@nats-io/transport-node';
import { isSetupApiSubject } from './jetstream-resources.js';
import type { Logger } from './logger.js';
import { describeCredentials, natsConnectOptions, type NatsClientSettings } from './nats-client.js';
import { coalesceWrites } from './nats-write-coalescing.js';

/**
 * Whether a connection can reach the NATS server right now. nats.js buffers publishes while it
 * reconnects, so without this a request sent during an outage would wait for its timers.
 */
export interface BusState {
  readonly connected: boolean;
  /** When the connection last went up or down (ms since the epoch). */
  readonly since: number;
  /** Why it is down, for `/ready` and error messages; undefined while connected. */
  readonly problem: string | undefined;
  /** Calls `listener` on every change up or down; returns the unsubscribe. */
  onChange(listener: (state: BusState) => void): () => void;
}

const states = new WeakMap<NatsConnection, BusState>();

/**
 * The live state of `nc`, tracked from its status events. Tracking starts at the first call
 * (`connectNats` makes it right after connecting): a connection first looked at while already
 * down reads as up until its next event, so call this early.
 */
export function busStateOf(nc: NatsConnection): BusState {
  const known = states.get(nc);
  if (known) return known;
  const listeners = new Set<(state: BusState) => void>();
  let up = true;
  let since = Date.now();
  let problem: string | undefined;
  const state: BusState = {
    get connected() {
      return up && !nc.isClosed();
    },
    get since() {
      return since;
    },
    get problem() {
      if (nc.isClosed()) return 'the NATS connection is closed';
      return up ? undefined : problem;
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  const set = (next: boolean, why?: string) => {
    if (next === up) return;
    up = next;
    since = Date.now();
    problem = why;
    for (const listener of listeners) listener(state);
  };
  states.set(nc, state);
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') set(false, `disconnected from NATS at ${status.server}; reconnecting`);
      else if (status.type === 'reconnect') set(true);
    }
    // The iterator ends when the connection closes for good.
    set(false, 'the NATS connection is closed');
  })();
  return state;
}

const inboxPrefixes = new WeakMap<NatsConnection, string>();

/**
 * A fresh reply inbox under the prefix `nc` was connected with (`_INBOX.<role>` through
 * {@link connectNats}, else `_INBOX`), ending in 128 random bits: nats.conf lets each bus user
 * subscribe to its own inboxes only, but workers may publish to every gateway and replay inbox,
 * so an inbox must not be guessable from others a worker has seen. nats.js's `createInbox` is a
 * nuid (a fixed prefix and a sequence growing by a fixed step): two seen, the next ones follow.
 */
export function inboxFor(nc: NatsConnection): string {
  return `${inboxPrefixes.get(nc) ?? '_INBOX'}.${randomBytes(16).toString('base64url')}`;
}

/** True for the server's "Authorization Violation" (no, unknown or wrong credentials). */
export function isAuthorizationError(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (e instanceof errors.AuthorizationError || /authorization violation/i.test(e.message)) return true;
  }
  return false;
}

/**
 * Connects to NATS, reconnecting forever after the first success: a NATS restart must not
 * need a gateway or worker restart (subscriptions, micro services included, are renewed by
 * nats.js on reconnect). The first connection fails fast with the URL named, and a refused
 * login says which credential variables to set. `client` carries the role's credentials, TLS
 * files and inbox prefix (common/nats-client.ts).
 */
export async function connectNats(
  url: string,
  name: string,
  log: Logger,
  client?: NatsClientSettings,
): Promise<NatsConnection> {
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: url.split(','),
      name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      timeout: 5000,
      ...natsConnectOptions(client),
    });
  } catch (err) {
    if (isAuthorizationError(err)) {
      throw new Error(
        `NATS at ${url} (NATS_URL) refused the connection (Authorization Violation): ${describeCredentials(client)}. "npm start" keeps each role's password in DATA_DIR/nats-credentials/<role>.password (README, "Securing the bus").`,
        { cause: err },
      );
    }
    throw new Error(
      `cannot connect to NATS at ${url} (NATS_URL): ${(err as Error).message}. Start the whole stack with "npm start", or point NATS_URL at a running nats-server.`,
      { cause: err },
    );
  }
  if (client) inboxPrefixes.set(nc, client.inboxPrefix);
  coalesceWrites(nc);
  busStateOf(nc);
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'error' && status.error instanceof errors.PermissionViolationError) {
        // A missing grant in nats.conf shows up here, not as a failed call: name the subject and user.
        const { operation, subject, queue } = status.error;
        // Creating a missing stream or bucket is tried to find out whether this user may; the
        // caller says what to do when not (jetstream-resources.ts), so this line would only mislead.
        if (operation === 'publish' && isSetupApiSubject(subject)) continue;
        log.error(
          { nats: { operation, subject, queue, user: client?.user } },
          `NATS refused a ${operation} on "${subject}" (Permissions Violation): the bus user${client?.user ? ` "${client.user}"` : ''} is not allowed it in nats.conf`,
        );
      } else if (status.type === 'disconnect' || status.type === 'error')
        log.warn({ nats: status }, 'NATS connection problem');
      else if (status.type === 'reconnect') log.info({ nats: status }, 'NATS reconnected');
    }
  })();
  return nc;
}

/**
 * Drains `nc` (pending messages out, subscriptions emptied), closing it outright after
 * `timeoutMs`: during a NATS outage a drain cannot finish, and a stopping process must still exit.
 */
export async function drainNats(nc: NatsConnection, timeoutMs: number, log: Logger): Promise<void> {
  if (nc.isClosed()) return;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), timeoutMs);
  });
  const drained = nc.drain().then(
    () => 'drained' as const,
    (err: unknown) => {
      log.warn({ err }, 'NATS drain failed while stopping');
      return 'failed' as const;
    },
  );
  const outcome = await Promise.race([drained, late]);
  clearTimeout(timer);
  if (outcome !== 'drained') {
    if (outcome === 'late')
      log.warn({ timeoutMs }, 'NATS drain did not finish in time (is NATS down?): closing the connection');
    await nc.close().catch(() => undefined);
  }
}
