import type { ExpressionBuilder, ExpressionWrapper, Kysely, SqlBool } from 'kysely';
import { AgentbusError } from '../../bus-schemas/index.js';
import { directStatementsOf } from './direct-statements.js';
import { partRange } from './request-parts.js';
import type { MemoryDatabase } from './schema.js';

export interface ResolvedSession {
  /** The conversation id turns are stored under. */
  id: string;
  /** False when no turn is stored for it yet. */
  exists: boolean;
}

/** A session and the tenant that owns it. */
export interface SessionOwner {
  id: string;
  tenant: string;
}

const notFound = (ref: string) =>
  new AgentbusError(
    'session_not_found',
    `No session "${ref}" exists for this API key. To start a new conversation, send no session id.`,
    { param: 'X-Session-ID' },
  );

// The three lookups, as Kysely queries: run by Kysely, or compiled once and run directly.
const sessionById = (db: Kysely<MemoryDatabase>, ref: string) =>
  db.selectFrom('sessions').select(['id', 'tenant']).where('id', '=', ref);
const sessionOfTurn = (db: Kysely<MemoryDatabase>, filter: TurnFilter) =>
  db
    .selectFrom('turns')
    .innerJoin('sessions', 'sessions.id', 'turns.session_id')
    .select(['sessions.id as id', 'sessions.tenant as tenant'])
    .where(filter);
const sessionOfRequest = (db: Kysely<MemoryDatabase>, ref: string) =>
  sessionOfTurn(db, (eb) => eb('turns.request_id', '=', ref));
// The client's completion id is the first fan-out part's; when that part failed, only the
// other agents' turns (`ref.<agent>`) were stored, and they still name the conversation.
const sessionOfPart = (db: Kysely<MemoryDatabase>, low: string, high: string) =>
  sessionOfTurn(db, (eb) => eb.and([eb('turns.request_id', '>=', low), eb('turns.request_id', '<', high)]));

/**
 * The session a reference names — a conversation id, or any completion id of the
 * conversation — with its owner, whoever that is; undefined when nothing matches.
 */
export async function lookupSession(db: Kysely<MemoryDatabase>, ref: string): Promise<SessionOwner | undefined> {
  const [low, high] = partRange(ref);
  const direct = directStatementsOf(db);
  if (direct) {
    return (
      direct.get<SessionOwner>(sessionById, [ref]) ??
      direct.get<SessionOwner>(sessionOfRequest, [ref]) ??
      direct.get<SessionOwner>(sessionOfPart, [low, high])
    );
  }
  return (
    (await sessionById(db, ref).executeTakeFirst()) ??
    (await sessionOfRequest(db, ref).executeTakeFirst()) ??
    (await sessionOfPart(db, low, high).executeTakeFirst())
  );
}

type TurnFilter = (
  eb: ExpressionBuilder<MemoryDatabase, 'turns' | 'sessions'>,
) => ExpressionWrapper<MemoryDatabase, 'turns' | 'sessions', SqlBool>;

/**
 * Resolves what a client sent as its session id (see {@link lookupSession}). An unknown id and
 * another tenant's session get the same answer, `session_not_found`, so a probe learns
 * nothing. Only `create` (ids the gateway generated) starts a new conversation.
 */
export async function resolveSession(
  db: Kysely<MemoryDatabase>,
  ref: string,
  tenant: string,
  create: boolean,
): Promise<ResolvedSession> {
  const session = await lookupSession(db, ref);
  if (session && session.tenant === tenant) return { id: session.id, exists: true };
  if (!session && create) return { id: ref, exists: false };
  throw notFound(ref);
}
