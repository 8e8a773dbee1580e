import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import type { MemoryDatabase } from './schema.js';
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
 */
export function openMemoryDatabase(file: string): Kysely<MemoryDatabase> {
  mkdirSync(dirname(file), { recursive: true });
  const sqlite = new SQLite(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  return new Kysely<MemoryDatabase>({ dialect: new SqliteDialect({ database: cachingStatements(sqlite) }) });
}
