import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from './logger.js';
import type { BusRole } from './nats-client.js';
import { readEnv } from './env.js';
import { isRunning } from './process-table.js';
import { readDataDir } from './shared-settings.js';

// What `npm start` leaves in DATA_DIR about its bundled nats-server, read by every process that
// may join that bus without NATS_URL: `npm run gateway`, `npm run worker`, replay, bus:request.

/**
 * What `npm start` remembers in `DATA_DIR/nats-server.json` about its bundled nats-server:
 * the port it chose (reused on the next start, so the printed add-workers line stays right),
 * and while it runs, its pid and its supervisor's (a later start finds one left behind).
 */
export interface NatsRecord {
  port: number;
  storeDir: string;
  /** Set while the server runs; removed when the stack stops it. */
  pid?: number;
  supervisorPid?: number;
}

export const natsRecordFile = (dataDir: string): string => join(dataDir, 'nats-server.json');

/** Where the bundled nats-server listens: loopback only. */
export const BUNDLED_NATS_HOST = '127.0.0.1';

/** The record, or undefined when there is none or it is not one (a hand edit, a torn write). */
export function readNatsRecord(dataDir: string): NatsRecord | undefined {
  try {
    const record = JSON.parse(readFileSync(natsRecordFile(dataDir), 'utf8')) as Partial<NatsRecord>;
    const isPid = (value: unknown) => value === undefined || (Number.isInteger(value) && (value as number) > 0);
    if (!Number.isInteger(record.port) || typeof record.storeDir !== 'string') return undefined;
    if (!isPid(record.pid) || !isPid(record.supervisorPid)) return undefined;
    return record as NatsRecord;
  } catch {
    return undefined;
  }
}

const bundledNatsUrl = (port: number) => `nats://${BUNDLED_NATS_HOST}:${port}`;

/** The URL of the nats-server `npm start` runs (or last ran) for `dataDir`, from its record. */
export function recordedNatsUrl(dataDir: string): string | undefined {
  const port = readNatsRecord(dataDir)?.port;
  return port === undefined ? undefined : bundledNatsUrl(port);
}

/** The directory under DATA_DIR holding one password file per bus user. */
export const credentialsDir = (dataDir: string): string => join(dataDir, 'nats-credentials');

/** A role's password file: what NATS_PASSWORD_FILE points at. */
export const passwordFileOf = (dataDir: string, role: BusRole): string =>
  join(credentialsDir(dataDir), `${role}.password`);

/** The bus a process joins because `npm start` runs it for its DATA_DIR, for its log line. */
export interface RecordedBus {
  url: string;
  recordFile: string;
  /** The role's user of the bundled bus; undefined when the caller named credentials of its own. */
  user: string | undefined;
}

const CREDENTIAL_VARIABLES = ['NATS_USER', 'NATS_PASSWORD', 'NATS_PASSWORD_FILE'] as const;

/** Whether `env` names bus credentials of its own: then no password file of `npm start`'s is used. */
export const namesOwnCredentials = (env: NodeJS.ProcessEnv): boolean =>
  CREDENTIAL_VARIABLES.some((name) => env[name]?.trim());

/** `env` as `role`'s user of `npm start`'s bus for `dataDir` (its password file); undefined without that file. */
export function asBundledUser(env: NodeJS.ProcessEnv, dataDir: string, role: BusRole): NodeJS.ProcessEnv | undefined {
  const passwordFile = passwordFileOf(dataDir, role);
  return existsSync(passwordFile) ? { ...env, NATS_USER: role, NATS_PASSWORD_FILE: passwordFile } : undefined;
}

/**
 * `env` pointed at the nats-server `npm start` runs for DATA_DIR when NATS_URL is unset and that
 * server is alive (its record names a running pid): its URL, and unless the caller names
 * credentials, the role's user and password file. Else `env` as it is (NATS_URL's default).
 * Without it, a gateway or worker added beside a stack whose NATS moved off a taken 4222 would
 * join the foreign NATS on 4222.
 */
export function withRecordedNats(
  role: BusRole,
  env: NodeJS.ProcessEnv = process.env,
): { env: NodeJS.ProcessEnv; recorded?: RecordedBus } {
  if (env['NATS_URL']?.trim()) return { env };
  const dataDir = readDataDir(readEnv(env));
  const record = readNatsRecord(dataDir);
  if (record?.pid === undefined || !isRunning(record.pid)) return { env };
  const url = bundledNatsUrl(record.port);
  const recordFile = natsRecordFile(dataDir);
  const joining = { ...env, NATS_URL: url };
  const asRole = namesOwnCredentials(env) ? undefined : asBundledUser(joining, dataDir, role);
  if (!asRole) return { env: joining, recorded: { url, recordFile, user: undefined } };
  return { env: asRole, recorded: { url, recordFile, user: role } };
}

/** Says which bus a process joins without NATS_URL, and why: it is not the default 4222. */
export function logRecordedBus(log: Logger, bus: RecordedBus): void {
  log.info(
    { nats: bus.url, user: bus.user ?? 'NATS_USER', record: bus.recordFile },
    'NATS_URL is unset: joining the nats-server npm start runs for DATA_DIR' +
      (bus.user ? `, as its ${bus.user} user` : ''),
  );
}
