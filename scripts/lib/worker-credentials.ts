import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inboxScopes, subjectsFor, WORKER_SERVICE_NAME } from '../../bus-schemas/index.js';
import { inboxPrefixOf } from '../../common/nats-client.js';
import { credentialsDir } from './nats-credentials.js';
import { makeDirs } from '../../common/make-dirs.js';

/** A NATS user's grants as nats.conf spells them. */
export interface NatsPermissions {
  publish: { allow: string[] };
  subscribe: { allow: string[] };
}

/** A worker user scoped to agents, as `DATA_DIR/nats-credentials/workers.json` keeps it (no password). */
export interface ScopedWorker {
  user: string;
  agents: string[];
  permissions: NatsPermissions;
  created_at: string;
}

/** Where the bus names come from: the same settings as the gateway's and workers'. */
export interface BusNames {
  subjectPrefix: string;
  cacheBucket: string;
}

const NAME = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The grants of a worker that serves only `agents`: each agent's chat subject in its queue group
 * only (a plain subscription, or another group, is refused), its cancels, memory queries; reply
 * frames only on those agents' chat inboxes, memory and `$SRV` answers only on theirs; its own
 * inboxes; the response cache only under its agents' keys (`<agent>.<sha>`), read by
 * DIRECT.GET with the key in the subject (MSG.GET and a bare DIRECT.GET would read any key).
 */
export function scopedWorkerPermissions(user: string, agents: readonly string[], names: BusNames): NatsPermissions {
  const subjects = subjectsFor(names.subjectPrefix);
  const { cacheBucket: bucket } = names;
  const gateway = inboxPrefixOf('gateway');
  const replay = inboxPrefixOf('replay');
  return {
    publish: {
      allow: [
        ...agents.flatMap((agent) => [
          `${gateway}.${inboxScopes.chat(agent)}.>`,
          `${replay}.${inboxScopes.chat(agent)}.>`,
        ]),
        `${gateway}.${inboxScopes.memory}.>`,
        `${gateway}.${inboxScopes.services}.>`,
        '$JS.API.INFO',
        `$JS.API.STREAM.INFO.KV_${bucket}`,
        ...agents.flatMap((agent) => [
          `$JS.API.DIRECT.GET.KV_${bucket}.$KV.${bucket}.${agent}.>`,
          `$KV.${bucket}.${agent}.>`,
        ]),
      ],
    },
    subscribe: {
      allow: [
        ...agents.flatMap((agent) => [
          `${subjects.chat(agent)} ${subjects.queueGroup(agent)}`,
          `${subjects.embed(agent)} ${subjects.queueGroup(agent)}`,
          `${subjects.speech(agent)} ${subjects.queueGroup(agent)}`,
          `${subjects.transcribe(agent)} ${subjects.queueGroup(agent)}`,
          subjects.cancel(agent),
        ]),
        `${subjects.memoryLast} ${subjects.memoryQueueGroup}`,
        `${subjects.memoryResponse} ${subjects.memoryQueueGroup}`,
        `${subjects.memoryCommit} ${subjects.memoryQueueGroup}`,
        '$SRV.*',
        `$SRV.*.${WORKER_SERVICE_NAME}`,
        `$SRV.*.${WORKER_SERVICE_NAME}.*`,
        `${inboxPrefixOf('worker', user)}.>`,
      ],
    },
  };
}

export const workersFile = (dataDir: string): string => join(credentialsDir(dataDir), 'workers.json');
export const workerPasswordFile = (dataDir: string, user: string): string =>
  join(credentialsDir(dataDir), `${user}.password`);
/** The user's entry for the users list of a nats.conf, with its password: for a server of your own. */
export const workerConfFile = (dataDir: string, user: string): string => join(credentialsDir(dataDir), `${user}.conf`);

/** The scoped workers minted so far; none when the file is missing. */
export function readScopedWorkers(dataDir: string): ScopedWorker[] {
  let text: string;
  try {
    text = readFileSync(workersFile(dataDir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const parsed = JSON.parse(text) as { workers?: ScopedWorker[] };
  if (!Array.isArray(parsed.workers)) throw new Error(`${workersFile(dataDir)} has no "workers" list`);
  return parsed.workers;
}

function writeScopedWorkers(dataDir: string, workers: readonly ScopedWorker[]): void {
  const file = workersFile(dataDir);
  writeFileSync(`${file}.tmp`, `${JSON.stringify({ workers }, null, 2)}\n`, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

/** One user of a nats.conf users list, in its JSON form (nats.conf reads JSON), indented for the list. */
export function natsUserEntry(worker: ScopedWorker, password: string): string {
  const entry = { user: worker.user, password, permissions: worker.permissions };
  return `    # ${worker.user}: a worker of ${worker.agents.join(', ')} (npm run bus:credentials)\n${JSON.stringify(
    entry,
    null,
    2,
  )
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n')}`;
}

/** The entries of every scoped worker with its password from its file: what replaces the marker line. */
export function scopedWorkerEntries(dataDir: string): string {
  return readScopedWorkers(dataDir)
    .map((worker) => natsUserEntry(worker, readFileSync(workerPasswordFile(dataDir, worker.user), 'utf8').trim()))
    .join('\n');
}

/** A usage problem (exit code 2): a bad name, one in use, no agents. */
export class CredentialsUsageError extends Error {}

/**
 * Mints a worker user for `agents`: a random password in `DATA_DIR/nats-credentials/<user>.password`
 * (0600), its entry in `workers.json`, and `<user>.conf` (its nats.conf users-list entry).
 * The user is `worker-<name>` (`name` default: 8 random hex digits).
 */
export function mintScopedWorker(
  dataDir: string,
  options: { agents: readonly string[]; name?: string | undefined; names: BusNames; now?: Date },
): { worker: ScopedWorker; passwordFile: string; confFile: string } {
  const name = options.name ?? randomBytes(4).toString('hex');
  if (!NAME.test(name)) throw new CredentialsUsageError(`invalid --name "${name}": 1-64 letters, digits, "_" or "-"`);
  if (options.agents.length === 0) throw new CredentialsUsageError('name the agents: --agents a,b');
  const user = `worker-${name}`;
  const dir = credentialsDir(dataDir);
  makeDirs(dir, 0o700);
  chmodSync(dir, 0o700);
  const workers = readScopedWorkers(dataDir);
  if (workers.some((worker) => worker.user === user)) throw new CredentialsUsageError(`the user ${user} exists`);
  const worker: ScopedWorker = {
    user,
    agents: [...options.agents],
    permissions: scopedWorkerPermissions(user, options.agents, options.names),
    created_at: (options.now ?? new Date()).toISOString(),
  };
  // Starts with letters: nats-server reads a value starting with a digit as a number.
  const password = `pw${randomBytes(32).toString('base64url')}`;
  const passwordFile = workerPasswordFile(dataDir, user);
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600, flag: 'wx' });
  const confFile = workerConfFile(dataDir, user);
  writeFileSync(confFile, `${natsUserEntry(worker, password)}\n`, { mode: 0o600 });
  writeScopedWorkers(dataDir, [...workers, worker]);
  return { worker, passwordFile, confFile };
}
