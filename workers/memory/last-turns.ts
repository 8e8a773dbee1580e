import type { Kysely } from 'kysely';
import type { MemoryTurn } from '../../bus-schemas/index.js';
import { SETTLE_WAIT, settledSession, type SettleWait } from './pending.js';
import { prepareQuery } from './prepared-query.js';
import type { MemoryDatabase } from './schema.js';
import { lookupSession, noSuchSession } from './sessions.js';

/** The newest turns of one conversation. */
export interface LastTurns {
  /** The conversation id the reference resolved to. */
  sessionId: string;
  /** Newest first. */
  turns: MemoryTurn[];
}

// Rows written by the app hold `toISOString()` already; the column's SQL default
// (CURRENT_TIMESTAMP, "YYYY-MM-DD HH:MM:SS" in UTC) is made ISO too, so the wire has one format.
function isoTimestamp(stored: string): string {
  if (stored.includes('T')) return stored;
  const parsed = new Date(`${stored.replace(' ', 'T')}Z`);
  return Number.isNaN(parsed.getTime()) ? stored : parsed.toISOString();
}

type StoredCall = { id?: unknown; function?: { name?: unknown; arguments?: unknown } } | null;

/** The stored calls as the wire shows them (its fields only); a row that holds no list of calls shows none. */
function toolCallsOf(stored: string | null): Pick<MemoryTurn, 'tool_calls'> {
  let calls: unknown;
  try {
    calls = stored === null ? undefined : JSON.parse(stored);
  } catch {
    return {};
  }
  if (!Array.isArray(calls) || calls.length === 0) return {};
  const shown = (calls as StoredCall[]).flatMap((call) => {
    const id = call?.id;
    const name = call?.function?.name;
    const args = call?.function?.arguments;
    if (typeof id !== 'string' || typeof name !== 'string' || typeof args !== 'string') return [];
    return [{ id, type: 'function' as const, function: { name, arguments: args } }];
  });
  return shown.length > 0 ? { tool_calls: shown } : {};
}

const newestTurns = prepareQuery((db: Kysely<MemoryDatabase>, p: { sessionId: string; limit: number }) =>
  db
    .selectFrom('turns')
    .select([
      'session_id',
      'request_id',
      'user_input',
      'assistant_response',
      'created_at',
      'agent',
      'model',
      'cached',
      'finish_reason',
      'prompt_tokens',
      'completion_tokens',
      'tool_calls',
    ])
    .where('session_id', '=', p.sessionId)
    // What the client received, in the order it received it (the commit order).
    .where('state', '=', 'committed')
    .orderBy('commit_seq', 'desc')
    .limit(p.limit),
);

// No request id has a space: the settle wait below leaves out no request's turns.
const NO_OWN_REQUEST = ' ';

/**
 * The last `limit` turns of a session, newest first. `sessionRef` is a conversation id or any
 * completion id of it. An unknown reference and another tenant's session both throw the same
 * `session_not_found`, so a probe learns nothing. Like a chat request, it first waits (bounded)
 * for the conversation's pending turns to settle: a client that lists the conversation the moment
 * it got an answer sees that answer, committed a moment later on the gateway's receipt.
 */
export async function lastTurns(
  db: Kysely<MemoryDatabase>,
  sessionRef: string,
  tenant: string,
  limit: number,
  wait: SettleWait = SETTLE_WAIT,
): Promise<LastTurns> {
  const session = await lookupSession(db, sessionRef);
  // Unknown and someone else's read the same.
  if (!session || session.tenant !== tenant) throw noSuchSession(sessionRef, 'session');
  const sessionId = session.id;
  await settledSession(db, sessionId, NO_OWN_REQUEST, wait);
  const { rows } = await newestTurns.execute(db, { sessionId, limit });
  return {
    sessionId,
    turns: rows.map((row) => ({
      session_id: row.session_id,
      request_id: row.request_id,
      user_input: row.user_input,
      assistant_response: row.assistant_response,
      timestamp: isoTimestamp(row.created_at),
      agent: row.agent,
      model: row.model,
      cached: row.cached === 1,
      finish_reason: row.finish_reason,
      prompt_tokens: row.prompt_tokens,
      completion_tokens: row.completion_tokens,
      ...toolCallsOf(row.tool_calls),
    })),
  };
}
