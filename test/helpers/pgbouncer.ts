import { spawn, spawnSync } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { findPgbouncer } from '../../scripts/lib/pgbouncer.js';
import { freePort } from '../../scripts/lib/ports.js';
import { serverOwner } from '../../scripts/lib/private-postgres.js';

/** A pgbouncer of the test's own in front of one database, in transaction mode. */
export interface TestPgbouncer {
  /** The database through the pooler, for DATABASE_URL. */
  readonly url: string;
  dispose(): Promise<void>;
}

/**
 * Starts pgbouncer (Debian's package) on a free loopback port in front of `databaseUrl` (a
 * private PostgreSQL's), in transaction mode with `serverConnections` server connections, so a
 * client's statements run on whichever one is free. It refuses to run as root: as root it runs
 * as the `postgres` user. Like every process a test starts, it is killed when the test ends.
 */
export async function startPgbouncer(databaseUrl: string, serverConnections = 1): Promise<TestPgbouncer> {
  const bin = findPgbouncer();
  if (!bin)
    throw new Error('pgbouncer is not installed; run "apt-get install pgbouncer" (npm test installs it as root)');
  const upstream = new URL(databaseUrl);
  const database = upstream.pathname.slice(1);
  const user = decodeURIComponent(upstream.username);
  const password = decodeURIComponent(upstream.password);
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-pgbouncer-'));
  // The password file goes with the test, however it ends (the reaper kills pgbouncer itself).
  const watchdog = spawn('sh', ['-c', `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; rm -rf '${dir}'`], {
    detached: true,
    stdio: 'ignore',
    env: {},
  });
  watchdog.unref();
  const port = await freePort('127.0.0.1');
  writeFileSync(join(dir, 'userlist.txt'), `"${user}" "${password}"\n`, { mode: 0o600 });
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `${database} = host=${upstream.hostname} port=${upstream.port} dbname=${database}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = scram-sha-256',
      `auth_file = ${join(dir, 'userlist.txt')}`,
      'pool_mode = transaction',
      `default_pool_size = ${serverConnections}`,
      'max_client_conn = 100',
      'ignore_startup_parameters = extra_float_digits',
      // 1.21 and later can keep prepared statements (on by default since 1.22): off, as before 1.21.
      ...(keepsPreparedStatements(bin) ? ['max_prepared_statements = 0'] : []),
      '',
    ].join('\n'),
  );
  const owner = serverOwner();
  if (owner) for (const file of ['', 'userlist.txt', 'pgbouncer.ini']) chownSync(join(dir, file), owner.uid, owner.gid);
  let output = '';
  const child = spawn(bin, [join(dir, 'pgbouncer.ini')], { ...(owner ?? {}), stdio: ['ignore', 'pipe', 'pipe'] });
  child.on('error', (err) => (output += `${err.message}\n`));
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  // 'close' comes also when the program could not be started at all ('exit' then never does).
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const dispose = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
    const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(killer);
    rmSync(dir, { recursive: true, force: true });
    try {
      if (watchdog.pid) process.kill(-watchdog.pid, 'SIGTERM');
    } catch {
      // Already gone.
    }
  };
  const url = `postgres://${upstream.username}:${upstream.password}@127.0.0.1:${port}/${database}`;
  // Ready once a query goes through it (bounded).
  const until = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await dispose();
      throw new Error(`pgbouncer exited at start: ${output.slice(-2000)}`);
    }
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000, query_timeout: 2_000 });
    try {
      await client.connect();
      await client.query('select 1');
      await client.end();
      return { url, dispose };
    } catch (err) {
      await client.end().catch(() => undefined);
      if (Date.now() > until) {
        await dispose();
        throw new Error(`pgbouncer did not pass a query: ${(err as Error).message}; ${output.slice(-2000)}`, {
          cause: err,
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

function keepsPreparedStatements(bin: string): boolean {
  const version = /(\d+)\.(\d+)/.exec(spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout);
  return version !== null && (Number(version[1]) > 1 || Number(version[2]) >= 21);
}
