import type { ExpressionBuilder, ExpressionWrapper, Kysely, SqlBool } from 'kysely';
import { AgentbusError } from '../../bus-schemas/index.js';
import { isPartOf } from './request-parts.js';
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

const notFound = (ref: string) => new AgentbusError('session_not_found', `No session "${ref}" exists for this API key. To start a new conversation, send no session id.`, { param: 'X-Session-ID' });

/**
 * The session a reference names — a conversation id, or any completion id of the
 * conversation — with its owner, whoever that is; undefined when nothing matches.
 */
export async function lookupSession(db: Kysely<MemoryDatabase>, ref: string): Promise<SessionOwner | undefined> {
  return await db.selectFrom('sessions').select(['id', 'tenant']).where('id', '=', ref).executeTakeFirst()
    ?? await sessionOfTurn(db, (eb) => eb('turns.request_id', '=', ref))
    // The client's completion id is the first fan-out part's; when that part failed, only the
    // other agents' turns (`ref.<agent>`) were stored, and they still name the conversation.
    ?? await sessionOfTurn(db, (eb) => isPartOf(eb, ref));
}

type TurnFilter = (eb: ExpressionBuilder<MemoryDatabase, 'turns' | 'sessions'>) => ExpressionWrapper<MemoryDatabase, 'turns' | 'sessions', SqlBool>;

async function sessionOfTurn(db: Kysely<MemoryDatabase>, filter: TurnFilter): Promise<SessionOwner | undefined> {
  return await db
    .selectFrom('turns')
    .innerJoin('sessions', 'sessions.id', 'turns.session_id')
    .select(['sessions.id as id', 'sessions.tenant as tenant'])
    .where(filter)
    .executeTakeFirst();
}

/**
 * Resolves what a client sent as its session id (see {@link lookupSession}). An unknown id and
 * another tenant's session get the same answer, `session_not_found`, so a probe learns
 * nothing. Only `create` (ids the gateway generated) starts a new conversation.
 */
export async function resolveSession(db: Kysely<MemoryDatabase>, ref: string, tenant: string, create: boolean): Promise<ResolvedSession> {
  const session = await lookupSession(db, ref);
  if (session && session.tenant === tenant) return { id: session.id, exists: true };
  if (!session && create) return { id: ref, exists: false };
  throw notFound(ref);
}
