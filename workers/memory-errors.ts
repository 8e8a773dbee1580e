import { AgentbusError } from '../bus-schemas/index.js';
import { memoryTroubleOf } from './memory/error-advice.js';
import type { MemoryHealth } from './memory/health.js';

function messageOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  if (err.message) return err.message;
  return typeof code === 'string' ? code : String(err);
}

/**
 * What went wrong, in a line: the message, or the code of an error without one (Node's
 * AggregateError), then what to do about it when that is known (credentials, a database closed
 * to connections, a pooler losing prepared statements…). `/ready`, the worker's start and the
 * requests refused meanwhile show this line.
 */
export function memoryProblemOf(err: unknown): string {
  const message = messageOf(err);
  const advice = memoryTroubleOf(err)?.advice;
  return advice ? `${message}; ${continuingSentence(advice)}` : message;
}

// The advice goes on after a semicolon: "Free disk space" reads "free disk space", but a name
// keeps its capitals ("PostgreSQL", "SQLite").
function continuingSentence(advice: string): string {
  const firstWord = /^\S*/.exec(advice)?.[0] ?? '';
  return /[A-Z]/.test(firstWord.slice(1)) ? advice : `${advice.charAt(0).toLowerCase()}${advice.slice(1)}`;
}

/**
 * True when `err` means the memory database cannot take writes now (unreachable, refusing, full,
 * or behind a pooler that loses prepared statements): the worker then refuses requests until its
 * probe write succeeds. A statement that went stale with a migration does not count: its
 * connection is replaced and the next request works.
 */
export function memoryUnwritable(err: unknown): boolean {
  return memoryTroubleOf(err)?.unwritable === true;
}

/**
 * A failure of the memory database as the client should see it: `memory_unavailable` (503,
 * retryable, naming where memory is: `DATA_DIR (…)` or `DATABASE_URL (…)`, password masked, and
 * what to do) when the database cannot be reached or written, else the error as it is.
 */
export function memoryFailure(err: unknown, at: string | undefined): unknown {
  return memoryTroubleOf(err) ? memoryUnavailable(memoryProblemOf(err), at, err) : err;
}

/** The error for a memory database known to refuse writes (`problem`, from memoryProblemOf, says why). */
export function memoryUnavailable(problem: string, at: string | undefined, cause?: unknown): AgentbusError {
  return new AgentbusError(
    'memory_unavailable',
    `The worker cannot write its memory database in ${at ?? 'DATA_DIR'}: ${problem}; the request was not answered.`,
    { cause },
  );
}

/** Throws `memory_unavailable` while the worker's probe finds its memory database unwritable. */
export function refuseWhileUnwritable(deps: {
  memoryAt?: string | undefined;
  memoryHealth?: Pick<MemoryHealth, 'problem'> | undefined;
}): void {
  const problem = deps.memoryHealth?.problem;
  if (problem !== undefined) throw memoryUnavailable(problem, deps.memoryAt);
}
