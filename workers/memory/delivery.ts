import type { DeleteQueryBuilder, DeleteResult, Kysely } from 'kysely';
import { countOf } from './turns.js';
import { memoryDialectOf } from './dialect.js';
import { inTurnTransaction, type TurnWriteOptions } from './group-commit.js';
import { commitTurnPostgres } from './postgres-turn-writes.js';
import { prepareQuery } from './prepared-query.js';
import type { MemoryDatabase, TurnState } from './schema.js';

// A pending turn becomes history when its client received the whole answer, and is deleted when
// it did not (protocol v2 delivery receipts, docs/bus.md). Commit order is delivery order: each
// commit takes the session's next number, in a transaction that writes the session row first
// (SQLite's write lock at once; a row lock on PostgreSQL), so concurrent commits of one
// conversation are numbered one after the other.

interface TurnRef {
  requestId: string;
  sessionId: string;
  now: string;
}

const countCommit = prepareQuery((db: Kysely<MemoryDatabase>, p: TurnRef) =>
  db
    .updateTable('sessions')
    .set((eb) => ({ updated_at: p.now, turn_count: eb('turn_count', '+', 1) }))
    .where('id', '=', p.sessionId),
);

const markCommitted = prepareQuery((db: Kysely<MemoryDatabase>, p: TurnRef) =>
  db
    .updateTable('turns')
    .set((eb) => ({ state: 'committed', commit_seq: countOf(eb, p.sessionId) }))
    .where('request_id', '=', p.requestId)
    .where('state', '=', 'pending'),
);

// Thrown inside the transaction to roll back the count when the turn is no longer pending.
class NotPending extends Error {}

/**
 * Commits a pending turn: it joins its conversation's history, numbered after every turn
 * committed before it. False when it is not pending any more (discarded meanwhile): nothing changes.
 */
export async function commitTurn(
  db: Kysely<MemoryDatabase>,
  requestId: string,
  sessionId: string,
  options: TurnWriteOptions = {},
): Promise<boolean> {
  const ref: TurnRef = { requestId, sessionId, now: new Date().toISOString() };
  if (memoryDialectOf(db) === 'postgres') return commitTurnPostgres(db, ref);
  try {
    await inTurnTransaction(
      db,
      async (trx) => {
        await countCommit.execute(trx, ref);
        const marked = await markCommitted.execute(trx, ref);
        if (!marked.numAffectedRows) throw new NotPending();
      },
      options,
    );
    return true;
  } catch (err) {
    if (err instanceof NotPending) return false;
    throw err;
  }
}

const pendingSession = prepareQuery((db: Kysely<MemoryDatabase>, p: { requestId: string }) =>
  db.selectFrom('turns').select('session_id').where('request_id', '=', p.requestId).where('state', '=', 'pending'),
);

/** The conversation of a pending turn, or undefined when the request has no pending turn. */
export async function pendingSessionOf(db: Kysely<MemoryDatabase>, requestId: string): Promise<string | undefined> {
  return (await pendingSession.execute(db, { requestId })).rows[0]?.session_id;
}

const deletePending = prepareQuery((db: Kysely<MemoryDatabase>, p: { requestId: string }) =>
  db.deleteFrom('turns').where('request_id', '=', p.requestId).where('state', '=', 'pending').returning('created_at'),
);

// The pending row one attempt wrote, by its id: a later attempt of the same request id may have
// replaced it (a retry takes over what a lost attempt left), and that row is not this one's.
const deleteOwnPending = prepareQuery((db: Kysely<MemoryDatabase>, p: { id: number }) =>
  db.deleteFrom('turns').where('id', '=', p.id).where('state', '=', 'pending').returning('created_at'),
);

// A session the discarded turn created holds nothing: it goes too, so an undelivered first
// answer leaves no trace (its id was never confirmed to anyone). Only if no write touched it after
// `touchedBy`: on PostgreSQL a request writing its turn into the session holds the row until it
// commits, and the row is then checked again on `updated_at` (which every write sets), while
// NOT EXISTS keeps what it saw before the wait — without the stamp, that turn would go with its
// session (ON DELETE CASCADE).
const deleteEmptySession = prepareQuery((db: Kysely<MemoryDatabase>, p: { sessionId: string; touchedBy: string }) =>
  db
    .deleteFrom('sessions')
    .where('id', '=', p.sessionId)
    .where('turn_count', '=', 0)
    .where('updated_at', '<=', p.touchedBy)
    .where((eb) => eb.not(eb.exists(eb.selectFrom('turns').select('id').where('session_id', '=', p.sessionId)))),
);

/**
 * Deletes a pending turn that was not delivered (and the session it alone made); a committed one
 * stays. `rowId`: only that row (`recordTurnRow`'s), the caller's own.
 */
export async function discardTurn(
  db: Kysely<MemoryDatabase>,
  requestId: string,
  sessionId: string,
  rowId?: number,
): Promise<void> {
  await inTurnTransaction(db, async (trx) => {
    const deleted =
      rowId === undefined
        ? await deletePending.execute(trx, { requestId })
        : await deleteOwnPending.execute(trx, { id: rowId });
    const [discarded] = deleted.rows;
    // The turn's write stamped the session with its own `created_at`.
    if (discarded) await deleteEmptySession.execute(trx, { sessionId, touchedBy: discarded.created_at });
  });
}

/** What a request id already has stored, for a redelivered request. */
export interface StoredTurn {
  /** The row's id, to discard exactly this row. */
  id: number;
  state: TurnState;
  assistantResponse: string;
  toolCalls: string | null;
  createdAt: string;
  /** The attempt of the request that wrote it (1: the first). */
  attempt: number;
  /** Pending: until when its writer waits for the receipt (ms since the epoch), or null (an older row). */
  pendingUntil: number | null;
}

const storedTurn = prepareQuery((db: Kysely<MemoryDatabase>, p: { requestId: string }) =>
  db
    .selectFrom('turns')
    .select(['id', 'state', 'assistant_response', 'tool_calls', 'created_at', 'attempt', 'pending_until'])
    .where('request_id', '=', p.requestId),
);

export async function findTurn(db: Kysely<MemoryDatabase>, requestId: string): Promise<StoredTurn | undefined> {
  const [row] = (await storedTurn.execute(db, { requestId })).rows;
  return (
    row && {
      id: row.id,
      state: row.state,
      assistantResponse: row.assistant_response,
      toolCalls: row.tool_calls,
      createdAt: row.created_at,
      attempt: row.attempt ?? 1,
      // PostgreSQL's driver reads a bigint as text.
      pendingUntil: row.pending_until === null ? null : Number(row.pending_until),
    }
  );
}

// One range of turn ids at a time, so neither database holds a long statement (and SQLite's
// synchronous driver never blocks the worker's event loop for the whole table).
const SWEEP_IDS_PER_STEP = 20_000;
// Sessions per DELETE: a few statements a step, far inside either database's bound-parameter limit.
const SWEEP_SESSIONS_PER_DELETE = 1_000;

// Past its `pending_until`, a pending turn is left for good once the gateway's last tries to have
// it committed elsewhere are over (~44 s of memory.commit resends): swept only this long after.
export const ABANDONED_SWEEP_MARGIN_MS = 5 * 60_000;

interface SweepStep {
  /** Pending turns written before this (ISO) go, with or without a `pending_until`. */
  before: string;
  /** Pending turns whose `pending_until` (ms) is before this go too. */
  abandonedBefore: number;
  /** A session a swept turn alone made goes only when untouched since this (ISO). */
  touchedBy: string;
  fromId: number;
  toId: number;
}

const deleteStalePending = prepareQuery((db: Kysely<MemoryDatabase>, p: SweepStep) =>
  db
    .deleteFrom('turns')
    .where('id', '>', p.fromId)
    .where('id', '<=', p.toId)
    .where('state', '=', 'pending')
    .where((eb) => eb.or([eb('created_at', '<', p.before), eb('pending_until', '<', p.abandonedBefore)]))
    .returning('session_id'),
);

const highestTurnId = prepareQuery((db: Kysely<MemoryDatabase>, _p: Record<string, never>) =>
  db.selectFrom('turns').select((eb) => eb.fn.max('id').as('top')),
);

type SessionsDelete = DeleteQueryBuilder<MemoryDatabase, 'sessions', DeleteResult>;

// deleteEmptySession's condition for any number of sessions: no turn, never committed to, and no
// write since `touchedBy` (why the stamp: see there).
const emptyAndUntouched = (query: SessionsDelete, touchedBy: string): SessionsDelete =>
  query
    .where('turn_count', '=', 0)
    .where('updated_at', '<=', touchedBy)
    .where((eb) =>
      eb.not(eb.exists(eb.selectFrom('turns').select('turns.id').whereRef('turns.session_id', '=', 'sessions.id'))),
    );

// As deleteEmptySession, for many sessions at once (their number varies: built, not prepared).
const deleteEmptySessions = (db: Kysely<MemoryDatabase>, ids: string[], touchedBy: string) =>
  emptyAndUntouched(db.deleteFrom('sessions').where('id', 'in', ids), touchedBy).execute();

// Sessions at a time in the pass over empty sessions: a step reads at most this many of them.
const EMPTY_SESSIONS_PER_STEP = 20_000;

// The id that ends a step of the pass over sessions that starts after `after`; none: the last step.
const sessionStepEnd = async (db: Kysely<MemoryDatabase>, after: string): Promise<string | undefined> =>
  (
    await db
      .selectFrom('sessions')
      .select('id')
      .where('id', '>', after)
      .orderBy('id')
      .limit(1)
      .offset(EMPTY_SESSIONS_PER_STEP - 1)
      .executeTakeFirst()
  )?.id;

/**
 * Deletes every session that holds no turn and was never committed to, untouched since
 * `touchedBy`: one a step kept because a later request had just touched it, whose own turn was
 * then discarded while the swept one still held the session — no turn of it is left to lead a
 * sweep there again. In steps of ids, each its own statement. Returns how many it deleted.
 */
async function sweepEmptySessions(db: Kysely<MemoryDatabase>, touchedBy: string, stop?: AbortSignal) {
  let deleted = 0;
  for (let after: string | undefined = ''; after !== undefined && !stop?.aborted;) {
    const end = await sessionStepEnd(db, after);
    const step = db
      .deleteFrom('sessions')
      .where('id', '>', after)
      .$if(end !== undefined, (q) => q.where('id', '<=', end!));
    const result = await emptyAndUntouched(step, touchedBy).executeTakeFirst();
    deleted += Number(result.numDeletedRows);
    after = end;
    await new Promise((resolve) => setImmediate(resolve));
  }
  return deleted;
}

// One transaction: a crash can no longer part the turns from the sessions they alone made. On
// PostgreSQL it holds the step's turn rows until its few session DELETEs end; sessions are taken
// in one order, so two workers sweeping at once queue.
async function sweepStep(trx: Kysely<MemoryDatabase>, step: SweepStep): Promise<number> {
  const rows = (await deleteStalePending.execute(trx, step)).rows;
  const sessionIds = [...new Set(rows.map((row) => row.session_id))].sort();
  for (let i = 0; i < sessionIds.length; i += SWEEP_SESSIONS_PER_DELETE)
    await deleteEmptySessions(trx, sessionIds.slice(i, i + SWEEP_SESSIONS_PER_DELETE), step.touchedBy);
  return rows.length;
}

/**
 * Deletes the pending turns of a worker that died while it waited for their receipt — written
 * before `before`, or past their `pending_until` by {@link ABANDONED_SWEEP_MARGIN_MS} — and each
 * session such a turn alone made and nothing touched since, as a discard does; then every
 * session left empty and untouched since that margin (sweepEmptySessions). No live request
 * waits that long (a worker waits at most the request's deadline, `pending_until` says until
 * when), so the sweep never takes a turn still in flight. It reads every turn (no index serves
 * `state`: one would cost every turn's two writes), in steps of id ranges with a turn of the
 * event loop between them; workers run it once they are ready, then now and then. Once `stop` is
 * aborted it ends after the current step (a stopping worker need not wait for millions of
 * turns): the next sweep takes the rest. Returns how many turns it deleted.
 */
export async function sweepPendingTurns(
  db: Kysely<MemoryDatabase>,
  before: Date,
  stop?: AbortSignal,
  now = Date.now(),
): Promise<number> {
  const abandonedBefore = now - ABANDONED_SWEEP_MARGIN_MS;
  const stamps = { before: before.toISOString(), abandonedBefore, touchedBy: new Date(abandonedBefore).toISOString() };
  const top = Number((await highestTurnId.execute(db, {})).rows[0]?.top ?? 0);
  let swept = 0;
  for (let fromId = 0; fromId < top && !stop?.aborted; fromId += SWEEP_IDS_PER_STEP) {
    const step: SweepStep = { ...stamps, fromId, toId: fromId + SWEEP_IDS_PER_STEP };
    swept += await inTurnTransaction(db, (trx) => sweepStep(trx, step));
    await new Promise((resolve) => setImmediate(resolve));
  }
  await sweepEmptySessions(db, stamps.touchedBy, stop);
  return swept;
}
