import { accessSync, constants, readFileSync } from 'node:fs';
import type { ConnectionOptions } from '@nats-io/transport-node';
import type { EnvReader } from './env.js';

/**
 * Who a process is on the bus. Each role has its own NATS user in nats.conf, with only the
 * permissions that role needs (docs/bus.md, "Who may do what"). `admin` is the setup-only user
 * of `npm run bus:setup`: the one that may create and change the streams and buckets.
 */
export type BusRole = 'gateway' | 'worker' | 'replay' | 'admin';

/** TLS files of a NATS client (NATS_TLS_CA, NATS_TLS_CERT, NATS_TLS_KEY). */
export interface NatsTlsFiles {
  caFile?: string;
  certFile?: string;
  keyFile?: string;
}

/**
 * How a process authenticates to NATS, read from the environment. The password is a
 * non-enumerable property: logging or serialising the config (pino, JSON.stringify) leaves it out.
 */
export interface NatsClientSettings {
  readonly role: BusRole;
  /** NATS_USER; undefined for a server without authentication. */
  readonly user: string | undefined;
  /** NATS_PASSWORD, or the content of NATS_PASSWORD_FILE (never logged). */
  readonly password: string | undefined;
  /** Where the password came from, for error messages: `NATS_PASSWORD` or `NATS_PASSWORD_FILE=<path>`. */
  readonly passwordSource: string | undefined;
  /** TLS files; undefined: TLS only if the server or a `tls://` URL asks for it. */
  readonly tls: Readonly<NatsTlsFiles> | undefined;
  /**
   * Prefix of this process's reply inboxes: `_INBOX.<role>`. Each user may subscribe only to its
   * own inboxes, so no role can read the replies meant for another (a worker cannot read the
   * answers other workers stream to the gateway).
   */
  readonly inboxPrefix: string;
}

/**
 * The reply-inbox prefix of a role; nats.conf grants each user subscribe on `<prefix>.>`. A
 * worker credential scoped to agents (`npm run bus:credentials`) has inboxes of its own,
 * `_INBOX.worker.<user>`, so it cannot read what the server answers other workers (their cache
 * reads, the gateway's delivery receipts).
 */
export function inboxPrefixOf(role: BusRole, user?: string): string {
  if (role === 'worker' && user !== undefined && user !== 'worker' && /^[A-Za-z0-9_-]+$/.test(user))
    return `_INBOX.worker.${user}`;
  return `_INBOX.${role}`;
}

/** NATS_URL's servers: one URL or a comma-separated list, blanks around the commas ignored. */
export function natsServers(url: string): string[] {
  return url
    .split(',')
    .map((server) => server.trim())
    .filter(Boolean);
}

/** The variables a process reads its bus credentials from, for messages. */
export const NATS_CREDENTIAL_VARIABLES = 'NATS_USER and NATS_PASSWORD (or NATS_PASSWORD_FILE)';

/**
 * Reads NATS_USER, NATS_PASSWORD / NATS_PASSWORD_FILE and NATS_TLS_CA / NATS_TLS_CERT /
 * NATS_TLS_KEY through `read` (problems name the variable). Each server of `natsUrl` is checked
 * for embedded credentials: the URL is logged, so a password in it would end up in the logs.
 */
export function readNatsClientSettings(read: EnvReader, role: BusRole, natsUrl: string): NatsClientSettings {
  if (natsServers(natsUrl).some((url) => /^([a-z]+:\/\/)?[^/@]*@/i.test(url))) {
    read.report(`NATS_URL must not hold credentials (it is logged): set ${NATS_CREDENTIAL_VARIABLES} instead`);
  }
  const user = read.optionalString('NATS_USER', {
    doc:
      'bus user of this process (`gateway`, `worker`, `replay`, `admin` in the shipped `nats.conf`; ' +
      '`worker-<name>` from `npm run bus:credentials`)',
  });
  const inline = read.optionalString('NATS_PASSWORD', {
    doc: "its password; prefer `NATS_PASSWORD_FILE` (a process's environment can be read by its user)",
  });
  const file = read.optionalString('NATS_PASSWORD_FILE', {
    doc: 'file holding the password (a last line break is ignored)',
  });
  let password: string | undefined;
  let passwordSource: string | undefined;
  if (inline !== undefined && file !== undefined) read.report('set NATS_PASSWORD or NATS_PASSWORD_FILE, not both');
  else if (inline !== undefined) {
    password = inline;
    passwordSource = 'NATS_PASSWORD';
  } else if (file !== undefined) {
    passwordSource = `NATS_PASSWORD_FILE=${file}`;
    try {
      // The file's last line break is not part of the password (`echo secret > file`).
      password = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
      if (password === '') read.report(`NATS_PASSWORD_FILE=${JSON.stringify(file)} is empty`);
    } catch (err) {
      read.report(
        `NATS_PASSWORD_FILE=${JSON.stringify(file)} ` +
          `cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    }
  }
  if (password !== undefined && user === undefined)
    read.report(
      `${passwordSource} is set but NATS_USER is not: ` +
        `name the bus user (${role} for this process in the bundled nats.conf)`,
    );
  if (user !== undefined && password === undefined && inline === undefined && file === undefined)
    read.report(`NATS_USER=${JSON.stringify(user)} needs a password: set NATS_PASSWORD or NATS_PASSWORD_FILE`);

  const tls: NatsTlsFiles = {};
  const tlsFiles = {
    caFile: read.optionalString('NATS_TLS_CA', {
      doc: "CA file the NATS server's certificate must chain to (TLS)",
    }),
    certFile: read.optionalString('NATS_TLS_CERT', {
      doc: 'client certificate, for a server with `verify: true` (with `NATS_TLS_KEY`)',
    }),
    keyFile: read.optionalString('NATS_TLS_KEY', { doc: "the client certificate's key" }),
  };
  for (const [name, key] of [
    ['NATS_TLS_CA', 'caFile'],
    ['NATS_TLS_CERT', 'certFile'],
    ['NATS_TLS_KEY', 'keyFile'],
  ] as const) {
    const path = tlsFiles[key];
    if (path === undefined) continue;
    try {
      accessSync(path, constants.R_OK);
      tls[key] = path;
    } catch (err) {
      read.report(
        `${name}=${JSON.stringify(path)} ` +
          `cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    }
  }
  if ((tlsFiles.certFile === undefined) !== (tlsFiles.keyFile === undefined)) {
    read.report('NATS_TLS_CERT and NATS_TLS_KEY go together (a client certificate and its key)');
  }

  const settings = {
    role,
    user,
    passwordSource,
    tls: Object.keys(tls).length > 0 ? Object.freeze(tls) : undefined,
    inboxPrefix: inboxPrefixOf(role, user),
  } as NatsClientSettings;
  Object.defineProperty(settings, 'password', { value: password, enumerable: false });
  return Object.freeze(settings);
}

/** The `connect()` options of `settings`: user and password, TLS files, the role's inbox prefix. */
export function natsConnectOptions(settings: NatsClientSettings | undefined): Partial<ConnectionOptions> {
  if (!settings) return {};
  return {
    inboxPrefix: settings.inboxPrefix,
    ...(settings.user !== undefined ? { user: settings.user } : {}),
    ...(settings.password !== undefined ? { pass: settings.password } : {}),
    ...(settings.tls ? { tls: { ...settings.tls } } : {}),
  };
}

/** A sentence saying which credentials were presented, for an "Authorization Violation". */
export function describeCredentials(settings: NatsClientSettings | undefined): string {
  if (!settings || settings.user === undefined)
    return (
      'no credentials were given: ' +
      `set ${NATS_CREDENTIAL_VARIABLES} to the ${settings?.role ?? 'process'}'s bus user`
    );
  return (
    `user "${settings.user}" (NATS_USER) with the password from ${settings.passwordSource} was refused: ` +
    "check both against the server's users"
  );
}
