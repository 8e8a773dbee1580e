import type { Kysely } from 'kysely';
import {
  AgentbusError,
  noSuchResponseMessage,
  type ChatMessage,
  type StoredTurn,
  type ToolCall,
} from '../../bus-schemas/index.js';
import { prepareQuery } from './prepared-query.js';
import { isPartId, ofRequest, requestParts, type RequestParts } from './request-parts.js';
import type { MemoryDatabase } from './schema.js';

/** A response (`root`, with its fan-out parts) of a tenant. */
interface TurnRef extends RequestParts {
  tenant: string;
}

// Only a committed turn (the client received it whole) of the tenant's own session is found: the
// response's own and its fan-out parts' (`low <= request_id < high`, see partRange), oldest first.
const turnsOfTenant = prepareQuery((db: Kysely<MemoryDatabase>, p: TurnRef) =>
  db
    .selectFrom('turns')
    .innerJoin('sessions', 'sessions.id', 'turns.session_id')
    .select([
      'turns.request_id',
      'turns.session_id',
      'turns.agent',
      'turns.model',
      'turns.input_messages',
      'turns.assistant_response',
      'turns.tool_calls',
      'turns.finish_reason',
      'turns.prompt_tokens',
      'turns.completion_tokens',
      'turns.created_at',
      'turns.metadata',
      'turns.previous_response_id',
      'turns.end_user',
      'turns.requested_at',
      'turns.refusal',
    ])
    .where((eb) => ofRequest(eb, p))
    .where('turns.state', '=', 'committed')
    .where('sessions.tenant', '=', p.tenant)
    .orderBy('turns.commit_seq'),
);

// The response's turn and its fan-out parts' (`low <= request_id < high`, see partRange): the client
// got one answer, and a part left behind would still name the conversation and be replayed as history.
// Pending ones too (the delete waited up to SETTLE_WAIT for them): committed later, a part would come
// back; its receipt then finds nothing to commit, as for a discarded turn (chat/deliver-turn.ts).
// The session's turn_count stays: it numbers the next commit, and a gap in commit_seq keeps the order.
const deleteTurnOfTenant = prepareQuery((db: Kysely<MemoryDatabase>, p: TurnRef) =>
  db
    .deleteFrom('turns')
    .where((eb) => ofRequest(eb, p))
    .where('session_id', 'in', (eb) =>
      eb.selectFrom('sessions').select('sessions.id').where('sessions.tenant', '=', p.tenant),
    ),
);

/** Unknown and another tenant's read the same, so a probe learns nothing. */
const notFound = (requestId: string) =>
  new AgentbusError('response_not_found', noSuchResponseMessage(requestId), {
    param: 'response_id',
  });

const seconds = (stored: string) => {
  const ms = Date.parse(stored.includes('T') ? stored : `${stored.replace(' ', 'T')}Z`);
  return Number.isNaN(ms) ? 0 : Math.floor(ms / 1000);
};

/**
 * The committed turn `requestId` of `tenant`, whole; throws `response_not_found`. Of a fan-out, the
 * part closest to what the client got: the aggregator's synthesis (then that was the answer), else
 * the first agent's turn, else — that part failed — the first part stored; under `requestId` in any
 * case. A part's own id (`R.<agent>`) is the bus's, never a client's: not found.
 */
export async function storedTurn(db: Kysely<MemoryDatabase>, requestId: string, tenant: string): Promise<StoredTurn> {
  if (isPartId(requestId)) throw notFound(requestId);
  const { rows } = await turnsOfTenant.execute(db, { ...requestParts(requestId), tenant });
  const row =
    rows.find((turn) => turn.request_id === `${requestId}.aggregate`) ??
    rows.find((turn) => turn.request_id === requestId) ??
    rows[0];
  if (!row) throw notFound(requestId);
  return {
    request_id: requestId,
    session_id: row.session_id,
    agent: row.agent,
    model: row.model,
    input_messages: JSON.parse(row.input_messages) as ChatMessage[],
    assistant_response: row.assistant_response,
    tool_calls: row.tool_calls === null ? null : (JSON.parse(row.tool_calls) as ToolCall[]),
    finish_reason: row.finish_reason,
    prompt_tokens: row.prompt_tokens,
    completion_tokens: row.completion_tokens,
    // The gateway's own created_at, as the response was answered with; an older turn, its write's.
    created_at: row.requested_at === null ? seconds(row.created_at) : Math.floor(Number(row.requested_at) / 1000),
    metadata: row.metadata === null ? null : (JSON.parse(row.metadata) as Record<string, string>),
    ...(row.previous_response_id !== null ? { previous_response_id: row.previous_response_id } : {}),
    ...(row.end_user !== null ? { user: row.end_user } : {}),
    ...(row.refusal !== null ? { refusal: row.refusal } : {}),
  };
}

/**
 * Removes the committed turn `requestId` of `tenant` from memory, with its fan-out parts: later
 * answers of its conversation no longer see it as history, and its id no longer continues the
 * conversation. Throws `response_not_found`.
 */
export async function deleteStoredTurn(db: Kysely<MemoryDatabase>, requestId: string, tenant: string): Promise<void> {
  if (isPartId(requestId)) throw notFound(requestId);
  const result = await deleteTurnOfTenant.execute(db, { ...requestParts(requestId), tenant });
  if (!result.numAffectedRows) throw notFound(requestId);
}
