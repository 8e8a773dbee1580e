import { CompiledQuery, type Kysely } from 'kysely';
import type { MemoryDatabase } from './schema.js';
import type { TurnRow } from './turn-row.js';

// On PostgreSQL every statement is a round trip: a socket write and a wake-up in the worker and
// in a server process. The pending write (BEGIN, session, turn, COMMIT) and the commit on receipt
// (BEGIN, count, mark, COMMIT) were four each, most of the worker's and the server's CPU per turn
// (BENCHMARKS.md, issue 21). Each is one statement here: data-modifying CTEs run in one implicit
// transaction, so either all of it is stored or nothing. SQLite keeps the transactions of
// turns.ts and delivery.ts, which its group commit shares between requests.

/** What the pending write found: which of its parts took effect. */
export interface PendingWriteResult {
  /** The session row was created or touched (it is the tenant's, and the turn was not stored yet). */
  touched: boolean;
  inserted: boolean;
  /** A turn with this request id was already stored when the statement began. */
  existed: boolean;
  /** The session exists and belongs to another tenant. */
  foreign: boolean;
}

// The session is touched only for its own tenant and only when the turn is new, so a refused or
// redelivered request leaves no trace, as the transaction's rollback did. A write racing another
// of the same request id waits on the session row, and its NOT EXISTS still reads the snapshot
// from before the other's turn: it touches the session but inserts nothing. SQL has no RAISE, so
// the last column then divides by zero (at run time: a subquery is never folded by the planner),
// which rolls the whole statement back. The integer casts state what PostgreSQL infers from the columns.
const PENDING_WRITE = `
with touched as (
  insert into sessions (id, tenant, agent, created_at, updated_at, turn_count)
  values ($1, $2, $3, $4, $4, 0)
  on conflict (id) do update set updated_at = excluded.updated_at
  where sessions.tenant = excluded.tenant and not exists (select 1 from turns where request_id = $5)
  returning id
), inserted as (
  insert into turns (request_id, session_id, agent, model, user_input, input_messages, assistant_response,
    tool_calls, finish_reason, cached, prompt_tokens, completion_tokens, duration_ms, created_at, end_user,
    metadata, private, previous_response_id, state)
  select $5, touched.id, $6, $7, $8, $9, $10, $11, $12, $13::integer, $14::integer, $15::integer, $16::integer,
    $4, $17, $18, $19::integer, $20, 'pending'
  from touched
  on conflict (request_id) do nothing
  returning id
)
select
  exists (select 1 from touched) as touched,
  exists (select 1 from inserted) as inserted,
  exists (select 1 from turns where request_id = $5) as existed,
  exists (select 1 from sessions where id = $1 and tenant <> $2) as foreign,
  case when exists (select 1 from touched) and not exists (select 1 from inserted)
    then 1 / (select count(*) from inserted)::integer end as raced`;

// SQLSTATE division_by_zero: only the `raced` column above raises it.
const RACED = '22012';

/**
 * Writes the session (created or touched) and the turn, `pending`, in one statement. A write that
 * lost a race with another of the same request id changes nothing and reads as `existed`.
 */
export async function writePendingTurnPostgres(
  db: Kysely<MemoryDatabase>,
  session: { id: string; tenant: string; agent: string; now: string },
  row: TurnRow,
): Promise<PendingWriteResult> {
  const parameters = [
    session.id,
    session.tenant,
    session.agent,
    session.now,
    row.request_id,
    row.agent,
    row.model,
    row.user_input,
    row.input_messages,
    row.assistant_response,
    row.tool_calls,
    row.finish_reason,
    row.cached,
    row.prompt_tokens,
    row.completion_tokens,
    row.duration_ms,
    row.end_user,
    row.metadata,
    row.private,
    row.previous_response_id,
  ];
  try {
    const { rows } = await db.executeQuery<PendingWriteResult>(CompiledQuery.raw(PENDING_WRITE, parameters));
    return rows[0]!;
  } catch (err) {
    if ((err as { code?: unknown }).code !== RACED) throw err;
    return { touched: false, inserted: false, existed: true, foreign: false };
  }
}

// The turn row is locked first (as a discard locks it), then the session's count: two commits of
// one conversation wait on the session row, and the second reads the first's count. A turn that is
// not pending (committed, or discarded meanwhile) locks nothing, so the count stays as it was.
const COMMIT = `
with pending as (
  select id from turns where request_id = $1 and state = 'pending' for update
), counted as (
  update sessions set updated_at = $3, turn_count = turn_count + 1
  where id = $2 and exists (select 1 from pending)
  returning turn_count
)
update turns set state = 'committed', commit_seq = counted.turn_count
from pending, counted
where turns.id = pending.id`;

/** Commits a pending turn in one statement; false when it is not pending (nothing changes). */
export async function commitTurnPostgres(
  db: Kysely<MemoryDatabase>,
  ref: { requestId: string; sessionId: string; now: string },
): Promise<boolean> {
  const result = await db.executeQuery(CompiledQuery.raw(COMMIT, [ref.requestId, ref.sessionId, ref.now]));
  return result.numAffectedRows === 1n;
}
