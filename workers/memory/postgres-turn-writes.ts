import { CompiledQuery, type Kysely } from 'kysely';
import type { MemoryDatabase } from './schema.js';
import type { TurnRow } from './turn-row.js';

// On PostgreSQL every statement is a round trip: a socket write and a wake-up in the worker and
// in a server process. The pending write (BEGIN, session, turn, COMMIT) and the commit on receipt
// (BEGIN, count, mark, COMMIT) were four each, most of the worker's and the server's CPU per turn
// (BENCHMARKS.md, issue 21). Each is one statement here: data-modifying CTEs run in one implicit
// transaction, so either all of it is stored or nothing. SQLite keeps the transactions of
// turns.ts and delivery.ts, which its group commit shares between requests.

/** What the pending write found. */
export interface PendingWriteResult {
  inserted: boolean;
  /** The new row's id (as the driver reads it), or null. */
  id: number | string | null;
  /** A turn with this request id was already stored when the statement began. */
  existed: boolean;
  /** The session exists and belongs to another tenant. */
  foreign: boolean;
}

// A turn's columns after request_id, session_id and created_at, written from $6 on in this order.
// A record of TurnRow's columns: one added to turnRow fails to compile here until this write stores
// it too (else PostgreSQL would drop it where SQLite keeps it). Integers are cast in the SELECT.
const TURN_COLUMNS: Record<
  Exclude<keyof TurnRow, 'request_id' | 'session_id' | 'created_at'>,
  'text' | 'integer' | 'bigint'
> = {
  agent: 'text',
  model: 'text',
  user_input: 'text',
  input_messages: 'text',
  assistant_response: 'text',
  tool_calls: 'text',
  finish_reason: 'text',
  cached: 'integer',
  prompt_tokens: 'integer',
  completion_tokens: 'integer',
  duration_ms: 'integer',
  end_user: 'text',
  metadata: 'text',
  private: 'integer',
  previous_response_id: 'text',
  pending_until: 'bigint',
  attempt: 'integer',
  requested_at: 'bigint',
  refusal: 'text',
};
const turnColumns = Object.keys(TURN_COLUMNS) as (keyof typeof TURN_COLUMNS)[];
const turnValues = turnColumns.map((column, i) => {
  const type = TURN_COLUMNS[column];
  return `$${i + 6}${type === 'text' ? '' : `::${type}`}`;
});

// The session is touched only for its own tenant and only when the turn is new, so a refused or
// redelivered request leaves no trace, as the transaction's rollback did. A write racing another
// of the same request id waits on the session row, and its NOT EXISTS still reads the snapshot
// from before the other's turn: it touches the session but inserts nothing. SQL has no RAISE, so
// the last column then divides by zero (at run time: a subquery is never folded by the planner),
// which rolls the whole statement back.
const PENDING_WRITE = `
with touched as (
  insert into sessions (id, tenant, agent, created_at, updated_at, turn_count)
  values ($1, $2, $3, $4, $4, 0)
  on conflict (id) do update set updated_at = excluded.updated_at
  where sessions.tenant = excluded.tenant and not exists (select 1 from turns where request_id = $5)
  returning id
), inserted as (
  insert into turns (request_id, session_id, created_at, ${turnColumns.join(', ')}, state)
  select $5, touched.id, $4, ${turnValues.join(', ')}, 'pending'
  from touched
  on conflict (request_id) do nothing
  returning id
)
select
  exists (select 1 from inserted) as inserted,
  (select id from inserted) as id,
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
    ...turnColumns.map((column) => row[column]),
  ];
  try {
    const { rows } = await db.executeQuery<PendingWriteResult>(CompiledQuery.raw(PENDING_WRITE, parameters));
    return rows[0]!;
  } catch (err) {
    if ((err as { code?: unknown }).code !== RACED) throw err;
    return { inserted: false, id: null, existed: true, foreign: false };
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
