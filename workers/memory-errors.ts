import { AgentbusError } from '../bus-schemas/index.js';

// SQLite's result codes that mean "this database cannot be written now", whatever the query:
// the disk is full, the file or its folder is read-only, the file is gone or unreadable.
const UNWRITABLE = /^SQLITE_(FULL|READONLY\w*|CANTOPEN\w*|IOERR\w*|NOTADB|CORRUPT\w*|PERM)$/;

/**
 * A failure of the memory database as the client should see it: `memory_unavailable` (503,
 * retryable, naming DATA_DIR) when the database cannot be written, else the error as it is.
 */
export function memoryFailure(err: unknown, dataDir: string | undefined): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !UNWRITABLE.test(code)) return err;
  return memoryUnavailable((err as Error).message, dataDir, err);
}

/** The error for a memory database known to refuse writes (`problem` says why). */
export function memoryUnavailable(problem: string, dataDir: string | undefined, cause?: unknown): AgentbusError {
  const where = dataDir === undefined ? 'DATA_DIR' : `DATA_DIR (${dataDir})`;
  return new AgentbusError(
    'memory_unavailable',
    `The worker cannot write its memory database in ${where}: ${problem}. ` +
      'Free disk space or fix the permissions; the request was not answered.',
    { cause },
  );
}
