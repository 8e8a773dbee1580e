import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './ports.js';
import { findPostgresBin } from './postgres-server.js';

/** A PostgreSQL server of our own (tests, bench): a temp cluster on a free port (never 5432). */
export interface PrivatePostgres {
  /** `postgres://agentbus:<password>@127.0.0.1:<port>/agentbus`, for DATABASE_URL. */
  readonly url: string;
  readonly port: number;
  /** The server's (postmaster's) pid while it runs; its backends are its children. */
  readonly pid: number | undefined;
  readonly password: string;
  /** Stops the server (fast shutdown: clients are cut); `start` brings it back on the same port and data. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** A fresh empty database owned by the `agentbus` user, as a DATABASE_URL. */
  createDatabase(name: string): Promise<string>;
  /** Runs one statement as the superuser, e.g. to close a database to connections as an operator would. */
  superQuery(text: string): Promise<void>;
  dispose(): Promise<void>;
}

const USER = 'agentbus';

/**
 * The uid and gid to run PostgreSQL as: it refuses root, so as root the package's `postgres` user
 * (pgbouncer, which refuses root too, runs as it in the tests).
 */
export function serverOwner(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
  const uid = id('-u');
  const gid = id('-g');
  if (uid.status !== 0 || gid.status !== 0)
    throw new Error(
      'running as root, PostgreSQL needs the "postgres" system user: "apt-get install postgresql" makes it',
    );
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

export interface PrivatePostgresOptions {
  /** Address to listen on (default 127.0.0.1); its /24 is let in too when it is not loopback. */
  host?: string;
  /**
   * PostgreSQL's own durability defaults (fsync, synchronous_commit, full_page_writes on), as an
   * operator's server runs: for the bench. Off by default: tests need speed, not crash safety.
   */
  durable?: boolean;
}

// What a test server skips: nothing it writes has to survive a crash of the machine.
const FAST_UNSAFE = ['fsync=off', 'synchronous_commit=off', 'full_page_writes=off'];

/**
 * Starts a private PostgreSQL: `initdb` into a temp dir (as the `postgres` user when we are
 * root), listening on 127.0.0.1 on a free port with its unix socket inside the dir. A user
 * `agentbus` with a password owns a database `agentbus`. `dispose` stops it and deletes the dir;
 * so does a watchdog once this process is gone, however it ended (tap kills a test file at its
 * timeout without running teardowns; the bench may be killed too).
 */
export async function startPrivatePostgres(options: PrivatePostgresOptions = {}): Promise<PrivatePostgres> {
  const host = options.host ?? '127.0.0.1';
  const bin = findPostgresBin();
  if (!bin)
    throw new Error('PostgreSQL is not installed; run "apt-get install postgresql" (npm test installs it as root)');
  const owner = serverOwner();
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-pg-'));
  const data = join(dir, 'data');
  const socketDir = join(dir, 'socket');
  mkdirSync(socketDir);
  if (owner) for (const path of [dir, socketDir]) chownSync(path, owner.uid, owner.gid);
  const as = owner ? { uid: owner.uid, gid: owner.gid } : {};
  const env = { ...process.env, LC_ALL: 'C.UTF-8', LANG: 'C.UTF-8' };

  // Killed and cleaned up once this process is gone. Not marked as a test's own (env: {}), so
  // the test reaper (test/helpers/reap-on-exit.ts) leaves it alone until it has done so.
  const watchdog = spawn(
    'sh',
    [
      '-c',
      `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; ` +
        `p=$(head -1 '${data}/postmaster.pid' 2>/dev/null); ` +
        `[ -n "$p" ] && kill -QUIT "$p" 2>/dev/null; sleep 2; [ -n "$p" ] && kill -KILL "$p" 2>/dev/null; ` +
        `rm -rf '${dir}'`,
    ],
    { detached: true, stdio: 'ignore', env: {} },
  );
  watchdog.unref();
  // Once the server is gone by our hand the watchdog has nothing left to do; ended with it, it
  // leaves no child behind (the bench smoke test checks that the harness leaves none).
  const endWatchdog = () => {
    try {
      if (watchdog.pid) process.kill(-watchdog.pid, 'SIGTERM');
    } catch {
      // Already gone.
    }
  };

  const password = `pw-${Math.random().toString(36).slice(2)}`;
  const superPassword = join(dir, 'superuser-password');
  writeFileSync(superPassword, `${password}-super\n`, { mode: 0o600 });
  if (owner) chownSync(superPassword, owner.uid, owner.gid);
  // The database answers to the server default collation of a user's machine (ICU en-US),
  // not C: range comparisons on ids must not depend on it (see the first migration).
  const init = spawnSync(
    join(bin, 'initdb'),
    [
      '-D',
      data,
      '-U',
      'postgres',
      `--pwfile=${superPassword}`,
      '--auth-local=trust',
      '--auth-host=scram-sha-256',
      '--encoding=UTF8',
      '--locale=C.UTF-8',
      '--locale-provider=icu',
      '--icu-locale=en-US',
      '--no-sync',
    ],
    { ...as, env, encoding: 'utf8' },
  );
  if (init.status !== 0) throw new Error(`initdb failed (${init.status}): ${init.stderr}`);
  // initdb lets in loopback clients only; a server on another address takes its subnet's hosts (password checked).
  if (host !== '127.0.0.1') appendFileSync(join(data, 'pg_hba.conf'), `host all all ${host}/24 scram-sha-256\n`);

  const port = await freePort(host);
  let server: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let output = '';

  const superClient = () => new pg.Client({ host: socketDir, port, user: 'postgres', database: 'postgres' });

  async function start(): Promise<void> {
    if (server) return;
    output = '';
    const child = spawn(
      join(bin!, 'postgres'),
      [
        '-D',
        data,
        '-p',
        String(port),
        '-c',
        `listen_addresses=${host}`,
        '-c',
        `unix_socket_directories=${socketDir}`,
        ...(options.durable ? [] : FAST_UNSAFE).flatMap((setting) => ['-c', setting]),
        '-c',
        'max_connections=100',
      ],
      { ...as, env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    server = child;
    exited = new Promise((resolve) => child.once('exit', () => resolve()));
    // Ready once it takes a connection (bounded).
    const until = Date.now() + 20_000;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`postgres exited at start: ${output.slice(-2000)}`);
      const client = superClient();
      try {
        await client.connect();
        await client.end();
        return;
      } catch (err) {
        await client.end().catch(() => undefined);
        if (Date.now() > until)
          throw new Error(`postgres did not accept connections: ${(err as Error).message}`, { cause: err });
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }

  async function stop(): Promise<void> {
    const child = server;
    if (!child) return;
    server = undefined;
    // SIGINT: fast shutdown, sessions are cut at once, as when the server goes away.
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killer);
  }

  async function superQuery(text: string): Promise<void> {
    const client = superClient();
    await client.connect();
    try {
      await client.query(text);
    } finally {
      await client.end();
    }
  }

  const urlOf = (database: string) => `postgres://${USER}:${encodeURIComponent(password)}@${host}:${port}/${database}`;

  try {
    await start();
    await superQuery(`create role ${USER} login password '${password}'`);
    await superQuery(`create database ${USER} owner ${USER}`);
  } catch (err) {
    await stop();
    rmSync(dir, { recursive: true, force: true });
    endWatchdog();
    throw err;
  }

  return {
    url: urlOf(USER),
    port,
    get pid() {
      return server?.pid;
    },
    password,
    start,
    stop,
    async createDatabase(name) {
      await superQuery(`create database ${name} owner ${USER}`);
      return urlOf(name);
    },
    superQuery,
    async dispose() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
      endWatchdog();
    },
  };
}
