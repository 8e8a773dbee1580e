import type { Kysely } from 'kysely';
import { AgentbusError, type ChatMessage, type ToolCall } from '../../bus-schemas/index.js';
import { directStatementsOf } from './direct-statements.js';
import { isPartOf, requestRoot } from './request-parts.js';
import type { MemoryDatabase } from './schema.js';

/** One answered request, as the worker stores it. */
export interface NewTurn {
  requestId: string;
  sessionId: string;
  tenant: string;
  agent: string;
  model: string;
  inputMessages: ChatMessage[];
  assistantResponse: string;
  toolCalls: ToolCall[];
  finishReason: string;
  cached: boolean;
  promptTokens: number;
  completionTokens: number;
  durationMs: number;
  endUser?: string | undefined;
  metadata?: Record<string, string> | undefined;
  /** Kept on local providers: every later request that carries this turn as history is too. */
  private: boolean;
}

/**
 * Images are not kept: a base64 picture would make every later prompt of the conversation
 * carry it again, and the database grow by megabytes per turn. Follow-ups see the text.
 */
function withoutImages(messages: readonly ChatMessage[]): ChatMessage[] {
  return messages.map((message) => {
    if (message.role !== 'user' || !message.images) return message;
    const { images: _images, ...rest } = message;
    return rest;
  });
}

// Thrown inside the transaction to roll it back when the turn already exists.
class TurnAlreadyStored extends Error {}

/**
 * Stores a turn in one transaction: the session row (created or touched) and the turn row.
 * Returns false when a turn with this request id already exists (a redelivered request),
 * in which case nothing at all changes.
 */
export async function recordTurn(db: Kysely<MemoryDatabase>, turn: NewTurn): Promise<boolean> {
  try {
    await insertTurn(db, turn);
    return true;
  } catch (err) {
    if (err instanceof TurnAlreadyStored) return false;
    throw err;
  }
}

// The turn's statements, as Kysely queries: run by Kysely, or compiled once and run directly.
// Values are positional, in the order Kysely binds them (checked at the first direct call).
const newSession = (
  db: Kysely<MemoryDatabase>,
  id: string,
  tenant: string,
  agent: string,
  createdAt: string,
  updatedAt: string,
  turnCount: number,
) =>
  db
    .insertInto('sessions')
    .values({ id, tenant, agent, created_at: createdAt, updated_at: updatedAt, turn_count: turnCount })
    .onConflict((oc) => oc.column('id').doNothing());
const sessionTenant = (db: Kysely<MemoryDatabase>, id: string) =>
  db.selectFrom('sessions').select('tenant').where('id', '=', id);
const newTurn = (
  db: Kysely<MemoryDatabase>,
  ...[
    request_id,
    session_id,
    agent,
    model,
    user_input,
    input_messages,
    assistant_response,
    tool_calls,
    end_user,
    metadata,
    finish_reason,
    cached,
    isPrivate,
    prompt_tokens,
    completion_tokens,
    duration_ms,
    created_at,
  ]: TurnValues
) =>
  db
    .insertInto('turns')
    .values({
      request_id,
      session_id,
      agent,
      model,
      user_input,
      input_messages,
      assistant_response,
      tool_calls,
      end_user,
      metadata,
      finish_reason,
      cached,
      private: isPrivate,
      prompt_tokens,
      completion_tokens,
      duration_ms,
      created_at,
    })
    .onConflict((oc) => oc.column('request_id').doNothing());
const touchSession = (db: Kysely<MemoryDatabase>, updatedAt: string, step: number, id: string) =>
  db
    .updateTable('sessions')
    .set((eb) => ({ updated_at: updatedAt, turn_count: eb('turn_count', '+', step) }))
    .where('id', '=', id);

// request_id … created_at, as newTurn takes them.
type TurnValues = [
  string,
  string,
  string,
  string,
  string,
  string,
  string,
  string | null,
  string | null,
  string | null,
  string,
  number,
  number,
  number,
  number,
  number,
  string,
];

function turnValues(turn: NewTurn, now: string): TurnValues {
  return [
    turn.requestId,
    turn.sessionId,
    turn.agent,
    turn.model,
    turn.inputMessages
      .filter((m) => m.role === 'user')
      .map((m) => m.content)
      .join('\n'),
    JSON.stringify(withoutImages(turn.inputMessages)),
    turn.assistantResponse,
    turn.toolCalls.length > 0 ? JSON.stringify(turn.toolCalls) : null,
    turn.endUser ?? null,
    turn.metadata ? JSON.stringify(turn.metadata) : null,
    turn.finishReason,
    turn.cached ? 1 : 0,
    turn.private ? 1 : 0,
    turn.promptTokens,
    turn.completionTokens,
    turn.durationMs,
    now,
  ];
}

const wrongTenant = (turn: NewTurn) =>
  new AgentbusError('session_not_found', `No session "${turn.sessionId}" exists for this API key.`, {
    param: 'X-Session-ID',
  });

async function insertTurn(db: Kysely<MemoryDatabase>, turn: NewTurn): Promise<void> {
  const now = new Date().toISOString();
  const session = [turn.sessionId, turn.tenant, turn.agent, now, now, 0] as const;
  const row = turnValues(turn, now);
  const touch = [now, 1, turn.sessionId] as const;
  // Write first, so in WAL mode the transaction takes the write lock at once and a second
  // worker process waits on busy_timeout instead of failing to upgrade a read lock.
  // Throwing rolls back the session row inserted first, so a replay leaves no trace.
  const direct = directStatementsOf(db);
  if (direct) {
    direct.transaction(() => {
      direct.run(newSession, session);
      if (direct.get<{ tenant: string }>(sessionTenant, [turn.sessionId])?.tenant !== turn.tenant)
        throw wrongTenant(turn);
      if (direct.run(newTurn, row) === 0) throw new TurnAlreadyStored();
      direct.run(touchSession, touch);
    });
    return;
  }
  await db.transaction().execute(async (trx) => {
    await newSession(trx, ...session).execute();
    const { tenant } = await sessionTenant(trx, turn.sessionId).executeTakeFirstOrThrow();
    if (tenant !== turn.tenant) throw wrongTenant(turn);
    const inserted = await newTurn(trx, ...row).executeTakeFirst();
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) === 0) throw new TurnAlreadyStored();
    await touchSession(trx, ...touch).execute();
  });
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
  const rows = await db
    .selectFrom('turns')
    .select(['input_messages', 'assistant_response', 'tool_calls', 'private'])
    .where('session_id', '=', sessionId)
    .where((eb) => eb.not(eb.or([eb('turns.request_id', '=', root), isPartOf(eb, root)])))
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
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
