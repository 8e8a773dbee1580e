import type { Kysely } from 'kysely';
import { AgentbusError, type ChatMessage, type ToolCall } from '../../bus-schemas/index.js';
import { prepareQuery } from './prepared-query.js';
import { partRange, requestRoot } from './request-parts.js';
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
const upsertSession = prepareQuery((db: Kysely<MemoryDatabase>, p: SessionTouch) =>
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

// The request id is unique: a redelivered request inserts nothing.
const insertTurn = prepareQuery((db: Kysely<MemoryDatabase>, p: TurnRow) =>
  db
    .insertInto('turns')
    .values({
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
    })
    .onConflict((oc) => oc.column('request_id').doNothing()),
);

// Thrown inside the transaction to roll it back when the turn already exists.
class TurnAlreadyStored extends Error {}

const wrongTenant = (turn: NewTurn) =>
  new AgentbusError('session_not_found', `No session "${turn.sessionId}" exists for this API key.`, {
    param: 'X-Session-ID',
  });

/**
 * Stores a turn in one transaction: the session row (created or touched) and the turn row.
 * Returns false when a turn with this request id already exists (a redelivered request),
 * in which case nothing at all changes.
 */
export async function recordTurn(db: Kysely<MemoryDatabase>, turn: NewTurn): Promise<boolean> {
  const now = new Date().toISOString();
  const session: SessionTouch = { id: turn.sessionId, tenant: turn.tenant, agent: turn.agent, now };
  const row = turnRow(turn, now);
  try {
    await db.transaction().execute(async (trx) => {
      // Write first, so in WAL mode the transaction takes the write lock at once and a second
      // worker process waits on busy_timeout instead of failing to upgrade a read lock.
      const counted = await upsertSession.execute(trx, session);
      // Throwing rolls back the session row written first, so a refusal or replay leaves no trace.
      if (!counted.numAffectedRows) throw wrongTenant(turn);
      const inserted = await insertTurn.execute(trx, row);
      if (!inserted.numAffectedRows) throw new TurnAlreadyStored();
    });
    return true;
  } catch (err) {
    if (err instanceof TurnAlreadyStored) return false;
    throw err;
  }
}

/** Stored turns replayed in front of a new request. */
export interface History {
  /** Oldest first. */
  readonly messages: readonly ChatMessage[];
  /** A turn among them was private, so the new request must stay on local providers too. */
  readonly private: boolean;
}

/** What a request without stored history (new conversation, store: false, client-sent history) gets. */
export const NO_HISTORY: History = Object.freeze({ messages: Object.freeze([]), private: false });

interface HistoryWindow {
  sessionId: string;
  /** The client request asking (see requestRoot), and its fan-out parts as a range (see partRange). */
  root: string;
  low: string;
  high: string;
  limit: number;
}

const lastTurnsBefore = prepareQuery((db: Kysely<MemoryDatabase>, p: HistoryWindow) =>
  db
    .selectFrom('turns')
    .select(['input_messages', 'assistant_response', 'tool_calls', 'private'])
    .where('session_id', '=', p.sessionId)
    .where((eb) =>
      eb.not(
        eb.or([
          eb('turns.request_id', '=', p.root),
          eb.and([eb('turns.request_id', '>=', p.low), eb('turns.request_id', '<', p.high)]),
        ]),
      ),
    )
    .orderBy('id', 'desc')
    .limit(p.limit),
);

/**
 * The last `limit` turns of a session as chat messages, ready to put in front of the request
 * `requestId`. The turns of that same client request are left out: the other parts of a
 * fan-out (`R`, `R.<agent>`, `R.aggregate`) answer the same question side by side, and are not
 * earlier conversation.
 */
export async function loadHistory(
  db: Kysely<MemoryDatabase>,
  sessionId: string,
  limit: number,
  requestId: string,
): Promise<History> {
  if (limit <= 0) return NO_HISTORY;
  const root = requestRoot(requestId);
  const [low, high] = partRange(root);
  const { rows } = await lastTurnsBefore.execute(db, { sessionId, root, low, high, limit });
  return {
    messages: rows
      .reverse()
      .flatMap((row) => [...(JSON.parse(row.input_messages) as ChatMessage[]), assistantMessage(row)]),
    private: rows.some((row) => row.private === 1),
  };
}

function assistantMessage(row: { assistant_response: string; tool_calls: string | null }): ChatMessage {
  return row.tool_calls
    ? { role: 'assistant', content: row.assistant_response, tool_calls: JSON.parse(row.tool_calls) as ToolCall[] }
    : { role: 'assistant', content: row.assistant_response };
}
