import type { ExpressionBuilder, Kysely } from 'kysely';
import { memoryDialectOf } from './dialect.js';
import { inTurnTransaction, type TurnWriteOptions } from './group-commit.js';
import { writePendingTurnPostgres } from './postgres-turn-writes.js';
import { prepareQuery } from './prepared-query.js';
import { noSuchSession } from './sessions.js';
import type { MemoryDatabase } from './schema.js';
import { turnRow, type NewTurn, type TurnRow } from './turn-row.js';

export type { NewTurn } from './turn-row.js';

interface SessionTouch {
  id: string;
  tenant: string;
  agent: string;
  now: string;
}

// Creates the session with this turn counted, or counts the turn on the existing one if it is
// the caller's: no row changes for another tenant's session, which the transaction then refuses.
const upsertCountedSession = prepareQuery((db: Kysely<MemoryDatabase>, p: SessionTouch) =>
  db
    .insertInto('sessions')
    .values({ id: p.id, tenant: p.tenant, agent: p.agent, created_at: p.now, updated_at: p.now, turn_count: 1 })
    .onConflict((oc) =>
      oc
        .column('id')
        .doUpdateSet((eb) => ({
          updated_at: eb.ref('excluded.updated_at'),
          turn_count: eb('sessions.turn_count', '+', 1),
        }))
        .where('sessions.tenant', '=', (eb) => eb.ref('excluded.tenant')),
    ),
);

// The same for a pending turn, which is not counted until it is committed (delivery.ts).
const upsertSession = prepareQuery((db: Kysely<MemoryDatabase>, p: SessionTouch) =>
  db
    .insertInto('sessions')
    .values({ id: p.id, tenant: p.tenant, agent: p.agent, created_at: p.now, updated_at: p.now, turn_count: 0 })
    .onConflict((oc) =>
      oc
        .column('id')
        .doUpdateSet((eb) => ({ updated_at: eb.ref('excluded.updated_at') }))
        .where('sessions.tenant', '=', (eb) => eb.ref('excluded.tenant')),
    ),
);

const turnValues = (p: TurnRow) => ({
  request_id: p.request_id,
  session_id: p.session_id,
  agent: p.agent,
  model: p.model,
  user_input: p.user_input,
  input_messages: p.input_messages,
  assistant_response: p.assistant_response,
  tool_calls: p.tool_calls,
  finish_reason: p.finish_reason,
  cached: p.cached,
  prompt_tokens: p.prompt_tokens,
  completion_tokens: p.completion_tokens,
  duration_ms: p.duration_ms,
  created_at: p.created_at,
  end_user: p.end_user,
  metadata: p.metadata,
  private: p.private,
  previous_response_id: p.previous_response_id,
  pending_until: p.pending_until,
  attempt: p.attempt,
  requested_at: p.requested_at,
  refusal: p.refusal,
});

/** The session's count of committed turns: a committed turn's place in its history. */
export const countOf = (eb: ExpressionBuilder<MemoryDatabase, 'turns'>, sessionId: string) =>
  eb.selectFrom('sessions').select('turn_count').where('id', '=', sessionId);

// The request id is unique: a redelivered request inserts nothing.
const insertCommittedTurn = prepareQuery((db: Kysely<MemoryDatabase>, p: TurnRow) =>
  db
    .insertInto('turns')
    .values((eb) => ({ ...turnValues(p), state: 'committed', commit_seq: countOf(eb, p.session_id) }))
    .onConflict((oc) => oc.column('request_id').doNothing()),
);

const insertPendingTurn = prepareQuery((db: Kysely<MemoryDatabase>, p: TurnRow) =>
  db
    .insertInto('turns')
    .values({ ...turnValues(p), state: 'pending', commit_seq: null })
    .onConflict((oc) => oc.column('request_id').doNothing()),
);

// Thrown inside the transaction to roll it back when the turn already exists.
class TurnAlreadyStored extends Error {}

const wrongTenant = (turn: NewTurn) => noSuchSession(turn.sessionId);

/**
 * Stores a turn in one transaction: the session row (created or touched) and the turn row,
 * `committed` (history at once: protocol v1, and answers no client waits to receive) or
 * `pending` (history only once delivery.ts commits it). Returns false when a turn with this
 * request id already exists (a redelivered request), in which case nothing at all changes.
 */
export async function recordTurn(
  db: Kysely<MemoryDatabase>,
  turn: NewTurn,
  state: 'committed' | 'pending' = 'committed',
  options: TurnWriteOptions = {},
): Promise<boolean> {
  return (await recordTurnRow(db, turn, state, options)) !== undefined;
}

/**
 * {@link recordTurn}, returning the new row's id (undefined when the request id was stored
 * already): its writer names its own row by it (`discardTurn`), as a later attempt of the same
 * request may have replaced it.
 */
export async function recordTurnRow(
  db: Kysely<MemoryDatabase>,
  turn: NewTurn,
  state: 'committed' | 'pending' = 'committed',
  options: TurnWriteOptions = {},
): Promise<number | undefined> {
  const now = new Date().toISOString();
  const session: SessionTouch = { id: turn.sessionId, tenant: turn.tenant, agent: turn.agent, now };
  const row = turnRow(turn, now);
  if (state === 'pending' && memoryDialectOf(db) === 'postgres') {
    const written = await writePendingTurnPostgres(db, session, row);
    if (written.inserted) return Number(written.id);
    if (written.existed && !written.foreign) return undefined;
    throw wrongTenant(turn);
  }
  const [touch, insert] =
    state === 'committed' ? [upsertCountedSession, insertCommittedTurn] : [upsertSession, insertPendingTurn];
  try {
    return await inTurnTransaction(
      db,
      async (trx) => {
        // Write first, so in WAL mode the transaction takes the write lock at once and a second
        // worker process waits on busy_timeout instead of failing to upgrade a read lock.
        const touched = await touch.execute(trx, session);
        // Throwing rolls back the session row written first, so a refusal or replay leaves no trace.
        if (!touched.numAffectedRows) throw wrongTenant(turn);
        const inserted = await insert.execute(trx, row);
        if (!inserted.numAffectedRows) throw new TurnAlreadyStored();
        // SQLite's rowid (a RETURNING clause would cost the insert a result row). PostgreSQL's driver
        // reports none: only a pending row's id is ever used, and its pending write returns it.
        return inserted.insertId === undefined ? 0 : Number(inserted.insertId);
      },
      options,
    );
  } catch (err) {
    if (err instanceof TurnAlreadyStored) return undefined;
    throw err;
  }
}
