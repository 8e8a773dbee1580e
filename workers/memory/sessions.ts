import type { Kysely } from 'kysely';
import { AgentbusError } from '../../bus-schemas/index.js';
import type { MemoryDatabase } from './schema.js';

export interface ResolvedSession {
  /** The conversation id turns are stored under. */
  id: string;
  /** False when no turn is stored for it yet. */
  exists: boolean;
}

/**
 * Resolves what a client sent as its session id: a conversation id, or any completion id of
 * the conversation. An id nobody has used starts a new conversation under that id. A session
 * of another tenant answers `session_not_found`, exactly as a missing one would for a probe.
 */
export async function resolveSession(db: Kysely<MemoryDatabase>, ref: string, tenant: string): Promise<ResolvedSession> {
  const session = await db.selectFrom('sessions').select(['id', 'tenant']).where('id', '=', ref).executeTakeFirst()
    ?? await db
      .selectFrom('turns')
      .innerJoin('sessions', 'sessions.id', 'turns.session_id')
      .select(['sessions.id as id', 'sessions.tenant as tenant'])
      .where('turns.request_id', '=', ref)
      .executeTakeFirst();
  if (!session) return { id: ref, exists: false };
  if (session.tenant !== tenant) throw new AgentbusError('session_not_found', `No session "${ref}" exists for this API key.`, { param: 'X-Session-ID' });
  return { id: session.id, exists: true };
}
