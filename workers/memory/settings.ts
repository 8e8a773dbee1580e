import type { EnvReader } from '../../common/env.js';
import { memoryDatabasePath } from './database.js';

/** Where a worker keeps its memory: one SQLite file under DATA_DIR, or a PostgreSQL server. */
export type MemorySettings =
  | { readonly dialect: 'sqlite'; readonly dataDir: string; readonly file: string }
  | {
      readonly dialect: 'postgres';
      /** DATABASE_URL as given, password included: only ever handed to `pg`. */
      readonly url: string;
      /** The same URL with its password masked: the only form that is logged or shown. */
      readonly shownUrl: string;
      readonly poolSize: number;
      /** Statements as named prepared statements (`pg` prepares each once per connection). */
      readonly preparedStatements: boolean;
    };

export const DEFAULT_POOL_SIZE = 10;

const PROTOCOLS = ['postgres:', 'postgresql:'];

/** `url` with its password (if any) replaced by `***`, for logs and errors. */
export function redactDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    // Query parameters may carry one too (`?password=`).
    if (parsed.searchParams.has('password')) parsed.searchParams.set('password', '***');
    return parsed.toString();
  } catch {
    return '(not a URL; not shown, it may hold a password)';
  }
}

/** The variable and value a memory error names: `DATA_DIR (./data)` or `DATABASE_URL (postgres://u:***@h/db)`. */
export function memoryLocation(settings: MemorySettings): string {
  return settings.dialect === 'sqlite' ? `DATA_DIR (${settings.dataDir})` : `DATABASE_URL (${settings.shownUrl})`;
}

/** DATABASE_URL, DATABASE_POOL_SIZE, DATABASE_PREPARED_STATEMENTS; SQLite under `dataDir` without DATABASE_URL. */
export function readMemorySettings(read: EnvReader, dataDir: string): MemorySettings {
  const url = read.optionalString('DATABASE_URL', {
    doc:
      'memory on PostgreSQL (`postgres://user:password@host:5432/db`) instead of SQLite under `DATA_DIR`; ' +
      'for workers on several hosts. Its password is never logged',
  });
  const poolSize = read.integer('DATABASE_POOL_SIZE', DEFAULT_POOL_SIZE, {
    min: 1,
    max: 1000,
    doc: 'with `DATABASE_URL`: most PostgreSQL connections one worker process opens',
  });
  const preparedStatements =
    read.oneOf('DATABASE_PREPARED_STATEMENTS', 'on', {
      allowed: ['on', 'off'],
      doc:
        'with `DATABASE_URL`: `off` sends every statement unnamed, for a pooler in transaction mode that ' +
        'does not keep prepared statements (PgBouncer before 1.21, or without `max_prepared_statements`)',
    }) === 'on';
  if (url === undefined) return Object.freeze({ dialect: 'sqlite', dataDir, file: memoryDatabasePath(dataDir) });
  let protocol: string | undefined;
  try {
    protocol = new URL(url).protocol;
  } catch {
    protocol = undefined;
  }
  if (protocol === undefined || !PROTOCOLS.includes(protocol)) {
    // The value is not repeated: it may hold a password.
    read.report(`DATABASE_URL must be a URL starting with postgres:// or postgresql:// (value not shown)`);
  }
  return Object.freeze({ dialect: 'postgres', url, shownUrl: redactDatabaseUrl(url), poolSize, preparedStatements });
}
