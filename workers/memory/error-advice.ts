/**
 * A failure of the memory database that the client cannot cause or fix: what an operator should
 * do about it, and whether it means the database cannot be written now (requests are then refused
 * until the worker's probe writes again).
 */
export interface MemoryTrouble {
  advice: string;
  unwritable: boolean;
}

type Advised = readonly [RegExp, string];

// SQLite's result codes that mean "this database cannot be written now", whatever the query:
// the disk is full, the file or its folder is read-only, the file is gone or unreadable.
const SQLITE: Advised = [
  /^SQLITE_(FULL|READONLY\w*|CANTOPEN\w*|IOERR\w*|NOTADB|CORRUPT\w*|PERM)$/,
  'Free disk space or fix the permissions of DATA_DIR',
];

const UNREACHABLE = 'Check that PostgreSQL runs and is reachable at the host and port in DATABASE_URL';

// PostgreSQL's SQLSTATEs, each with what to do. The client gets 503 `memory_unavailable` for all
// of them, the configuration mistakes too (credentials, database name, privileges): a worker stops
// at start on those, so met later they were changed under it, and an operator's fix ends them.
const POSTGRES: readonly Advised[] = [
  // Connection exceptions: the server went away, or never answered.
  [/^08\w{3}$/, UNREACHABLE],
  [
    /^57P0[123]$/,
    'PostgreSQL ended the connection (an administrator, a shutdown or crash) or is starting up: the worker ' +
      'reconnects on its own once the server in DATABASE_URL takes connections again',
  ],
  [
    /^53300$/,
    'PostgreSQL has no connection left (max_connections): raise it, or lower DATABASE_POOL_SIZE or the number ' +
      'of workers sharing DATABASE_URL',
  ],
  [
    /^(53\w{3}|58030)$/,
    'PostgreSQL is out of disk space or memory, or cannot write its files: free space on its server',
  ],
  [
    /^25006$/,
    'PostgreSQL takes no writes here (a standby, or default_transaction_read_only): point DATABASE_URL at the primary',
  ],
  [/^28\w{3}$/, 'PostgreSQL refuses the user or password in DATABASE_URL: fix them, or its pg_hba.conf'],
  [/^(3D000|57P04)$/, 'The database named in DATABASE_URL does not exist (any more): create it, or fix the name'],
  [
    /^42501$/,
    "The user in DATABASE_URL may not use agentbus's tables: grant it their privileges, or use the user that " +
      'migrated them',
  ],
];

// 55000 (object_not_in_prerequisite_state) is many things; at connection time (its routine)
// it is a database that lets nobody in: `ALTER DATABASE … ALLOW_CONNECTIONS false`, maintenance.
const CLOSED_DATABASE =
  'PostgreSQL lets nobody connect to the database in DATABASE_URL now (its ALLOW_CONNECTIONS is false): ' +
  'requests are served again once it allows connections';
const closedDatabase = (code: string, err: { message?: unknown; routine?: unknown }) =>
  code === '55000' &&
  (err.routine === 'CheckMyDatabase' || String(err.message).includes('not currently accepting connections'));

// The socket errors of a server that cannot be reached at all.
const SOCKET = /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|EPIPE|ECONNABORTED)$/;
// `pg` reports a connection that broke or never came up with an Error that has no code.
const CONNECTION_LOST =
  /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error)/;

// A pooler in transaction mode (PgBouncer before 1.21) runs a connection's statements on any of
// its server connections: a statement `pg` prepared on one is missing (26000) on another, or
// already there (42P05) when a second client prepares it.
const POOLED_AWAY = /^(26000|42P05)$/;
const POOLER_ADVICE =
  'A connection pooler in transaction mode between the workers and PostgreSQL does not keep prepared ' +
  'statements: set DATABASE_PREPARED_STATEMENTS=off (or, with PgBouncer 1.21 or later, max_prepared_statements)';

// A statement prepared before a migration changed what it returns (a newer worker migrated while
// this one served): its connection is closed (postgres-named-statements.ts), so a retry prepares
// it anew.
const SCHEMA_CHANGED_ADVICE =
  'The schema changed under a statement this worker had prepared (a newer worker migrated); its connection ' +
  'was replaced: try again';

/** A statement prepared before a migration changed what it returns (SQLSTATE 0A000 of that kind). */
export function schemaChanged(err: unknown): boolean {
  const { code, message } = (err ?? {}) as { code?: unknown; message?: unknown };
  return code === '0A000' && String(message).includes('cached plan must not change result type');
}

/** One of agentbus's prepared statements missing (26000) or already there (42P05): a pooler moved it. */
export function preparedStatementLost(err: unknown): boolean {
  const { code, message } = (err ?? {}) as { code?: unknown; message?: unknown };
  return typeof code === 'string' && POOLED_AWAY.test(code) && String(message).includes('"agentbus_');
}

/** What `err` means for the memory database, when it is the database's trouble and not a bug. */
export function memoryTroubleOf(err: unknown): MemoryTrouble | undefined {
  if (preparedStatementLost(err)) return { advice: POOLER_ADVICE, unwritable: true };
  if (schemaChanged(err)) return { advice: SCHEMA_CHANGED_ADVICE, unwritable: false };
  const fields = (err ?? {}) as { code?: unknown; message?: unknown; routine?: unknown };
  const code = fields.code;
  if (typeof code !== 'string')
    return err instanceof Error && CONNECTION_LOST.test(err.message)
      ? { advice: UNREACHABLE, unwritable: true }
      : undefined;
  if (closedDatabase(code, fields)) return { advice: CLOSED_DATABASE, unwritable: true };
  if (SOCKET.test(code)) return { advice: UNREACHABLE, unwritable: true };
  const advised = [SQLITE, ...POSTGRES].find(([codes]) => codes.test(code));
  return advised && { advice: advised[1], unwritable: true };
}
