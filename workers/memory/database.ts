import { dirname, join, resolve } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { ensurePrivateDir, ensurePrivateFile, narrowFile } from '../../common/private-files.js';
import { namedStatements } from './postgres-named-statements.js';
import type { MemoryDatabase } from './schema.js';
import type { MemorySettings } from './settings.js';
import { queuedSqliteDialect } from './sqlite-dialect.js';
import { cachingStatements } from './statement-cache.js';

/** File name of the memory database inside DATA_DIR. */
export const MEMORY_DB_FILE = 'agentbus.sqlite';

/** Path of the memory database for a data directory. */
export function memoryDatabasePath(dataDir: string): string {
  return resolve(join(dataDir, MEMORY_DB_FILE));
}

/**
 * Opens the SQLite memory database. WAL lets readers run beside the one writer, and
 * busy_timeout makes a writer from another worker process wait instead of failing with
 * SQLITE_BUSY. synchronous=NORMAL in WAL mode survives a killed process (not a power cut).
 * The directory is 0700 and the files 0600 whatever the umask: they hold every prompt and
 * answer. SQLite gives the -wal and -shm files the database file's mode, so that is made first.
 */
export function openMemoryDatabase(file: string): Kysely<MemoryDatabase> {
  ensurePrivateDir(dirname(file));
  ensurePrivateFile(file);
  const sqlite = new SQLite(file);
  sqlite.pragma('journal_mode = WAL');
  // Left wider by an earlier version: SQLite reuses them as they are.
  for (const suffix of ['-wal', '-shm']) narrowFile(`${file}${suffix}`);
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  return new Kysely<MemoryDatabase>({ dialect: queuedSqliteDialect({ database: cachingStatements(sqlite) }) });
}

// A server that does not answer a connection attempt (a dead host, a firewall) fails a request
// in this time with memory_unavailable instead of holding it until the client gives up.
const CONNECT_TIMEOUT_MS = 5000;

/**
 * Opens the memory database on PostgreSQL: a pool of at most `poolSize` connections, opened
 * when queries need them (nothing connects here). `onIdleError` hears of an idle connection the
 * server closed (a restart, an admin shutdown): the pool drops it and opens a new one when
 * needed; unheard, `pg` would throw it out of the process. With `preparedStatements`, each
 * statement is parsed and planned once per connection instead of every time (BENCHMARKS.md row 47).
 */
export function openPostgresMemoryDatabase(
  settings: { url: string; poolSize: number; preparedStatements: boolean },
  onIdleError: (err: Error) => void = () => undefined,
): Kysely<MemoryDatabase> {
  const pool = new pg.Pool({
    connectionString: settings.url,
    max: settings.poolSize,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    keepAlive: true,
    application_name: 'agentbus',
  });
  pool.on('error', onIdleError);
  // A connection checked out by a transaction, between its queries, has no listener of the
  // pool's: its error (the server shut down) would be thrown out of the process. The next query
  // on it fails with that error instead, and the pool drops it.
  pool.on('connect', (client) => client.on('error', () => undefined));
  return new Kysely<MemoryDatabase>({
    dialect: new PostgresDialect({ pool: settings.preparedStatements ? namedStatements(pool) : pool }),
  });
}

/** Opens the memory database the settings name (SQLite under DATA_DIR, or DATABASE_URL). */
export function openMemory(settings: MemorySettings, onIdleError?: (err: Error) => void): Kysely<MemoryDatabase> {
  return settings.dialect === 'sqlite'
    ? openMemoryDatabase(settings.file)
    : openPostgresMemoryDatabase(settings, onIdleError);
}
