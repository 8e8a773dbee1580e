import { AgentbusError } from '../bus-schemas/index.js';

// SQLite's result codes that mean "this database cannot be written now", whatever the query:
// the disk is full, the file or its folder is read-only, the file is gone or unreadable.
const SQLITE_UNWRITABLE = /^SQLITE_(FULL|READONLY\w*|CANTOPEN\w*|IOERR\w*|NOTADB|CORRUPT\w*|PERM)$/;

// PostgreSQL's SQLSTATEs of the same kind: connection exceptions (08…), bad credentials or
// no such role (28…), no such database (3D000), a read-only server or transaction (25006),
// insufficient resources (53…: 53100 disk full, 53300 too many connections), the server
// shutting down or starting (57P01–57P03), an I/O error (58030). And the socket errors of a
// server that cannot be reached at all.
const POSTGRES_UNAVAILABLE = /^(08\w{3}|28\w{3}|3D000|25006|53\w{3}|57P0[123]|58030)$/;
const SOCKET_UNAVAILABLE =
  /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|EPIPE|ECONNABORTED)$/;
// `pg` reports a connection that broke or never came up with an Error that has no code.
const POSTGRES_CONNECTION_LOST =
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

function unavailable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string')
    return SQLITE_UNWRITABLE.test(code) || POSTGRES_UNAVAILABLE.test(code) || SOCKET_UNAVAILABLE.test(code);
  return err instanceof Error && POSTGRES_CONNECTION_LOST.test(err.message);
}

function messageOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  if (err.message) return err.message;
  return typeof code === 'string' ? code : String(err);
}

/**
 * What went wrong, in a line: the message, or the code of an error without one (Node's
 * AggregateError). A statement lost to a pooler says what to set: `/ready` and the requests
 * refused meanwhile show this line.
 */
export function memoryProblemOf(err: unknown): string {
  const message = messageOf(err);
  return preparedStatementLost(err)
    ? `${message}; ${POOLER_ADVICE.charAt(0).toLowerCase()}${POOLER_ADVICE.slice(1)}`
    : message;
}

/**
 * True when `err` means the memory database cannot take writes now (unreachable, refusing, full,
 * or behind a pooler that loses prepared statements): the worker then refuses requests until its
 * probe write succeeds. A statement that went stale with a migration does not count: its
 * connection is replaced and the next request works.
 */
export function memoryUnwritable(err: unknown): boolean {
  return unavailable(err) || preparedStatementLost(err);
}

/**
 * A failure of the memory database as the client should see it: `memory_unavailable` (503,
 * retryable, naming where memory is: `DATA_DIR (…)` or `DATABASE_URL (…)`, password masked) when
 * the database cannot be reached or written, else the error as it is.
 */
export function memoryFailure(err: unknown, at: string | undefined): unknown {
  if (preparedStatementLost(err)) return memoryUnavailable(messageOf(err), at, err, POOLER_ADVICE);
  if (schemaChanged(err)) return memoryUnavailable(messageOf(err), at, err, SCHEMA_CHANGED_ADVICE);
  if (!unavailable(err)) return err;
  return memoryUnavailable(messageOf(err), at, err);
}

/** The error for a memory database known to refuse writes (`problem` says why). */
export function memoryUnavailable(
  problem: string,
  at: string | undefined,
  cause?: unknown,
  advice = adviceFor(at ?? 'DATA_DIR'),
): AgentbusError {
  const where = at ?? 'DATA_DIR';
  return new AgentbusError(
    'memory_unavailable',
    `The worker cannot write its memory database in ${where}: ${problem}. ${advice}; the request was not answered.`,
    { cause },
  );
}

const adviceFor = (where: string) =>
  where.startsWith('DATABASE_URL')
    ? 'Check that PostgreSQL runs and is reachable, and the credentials and database in DATABASE_URL'
    : 'Free disk space or fix the permissions';
