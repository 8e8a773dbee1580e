import type { Kysely } from 'kysely';
import { AgentbusError, noSuchSessionMessage, type SessionNamedIn } from '../../bus-schemas/index.js';
import { prepareQuery } from './prepared-query.js';
import { isPartId, partRange } from './request-parts.js';
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

/** The 404 of a session unknown to this key (another key's reads the same), named as the client sent it. */
export const noSuchSession = (ref: string, namedIn: SessionNamedIn = 'X-Session-ID') =>
  new AgentbusError('session_not_found', noSuchSessionMessage(ref, namedIn), { param: namedIn });

interface SessionRef {
  /** The reference as sent. */
  ref: string;
  /** The request ids of its fan-out parts: `low <= request_id < high` (see partRange). */
  low: string;
  high: string;
}

// The three ways a reference names a session, in order of preference, as one statement (COALESCE
// stops at the first that matches): the conversation id; a completion id; the id of a fan-out
// part — when the client's completion id (the first part's) failed, only the other agents'
// turns (`ref.<agent>`) name the conversation.
const sessionByRef = prepareQuery((db: Kysely<MemoryDatabase>, p: SessionRef) =>
  db
    .selectFrom('sessions')
    .select(['id', 'tenant'])
    .where('id', '=', (eb) =>
      eb.fn.coalesce(
        eb.selectFrom('sessions').select('id').where('id', '=', p.ref),
        // Only a delivered answer's id names its conversation to the client.
        eb.selectFrom('turns').select('session_id').where('request_id', '=', p.ref).where('state', '=', 'committed'),
        eb
          .selectFrom('turns')
          .select('session_id')
          .where('request_id', '>=', p.low)
          .where('request_id', '<', p.high)
          .where('state', '=', 'committed')
          .limit(1),
      ),
    ),
);

// A reference with a "." names a session by its id alone: the id of a fan-out part (`R.<agent>`) is the
// bus's own, never given to a client, which continues the conversation by `R`.
const sessionById = prepareQuery((db: Kysely<MemoryDatabase>, p: { ref: string }) =>
  db.selectFrom('sessions').select(['id', 'tenant']).where('id', '=', p.ref),
);

/**
 * The session a reference names — a conversation id, or any completion id of the
 * conversation — with its owner, whoever that is; undefined when nothing matches.
 */
export async function lookupSession(db: Kysely<MemoryDatabase>, ref: string): Promise<SessionOwner | undefined> {
  if (isPartId(ref)) return (await sessionById.execute(db, { ref })).rows[0];
  const [low, high] = partRange(ref);
  const [session] = (await sessionByRef.execute(db, { ref, low, high })).rows;
  return session;
}

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
  throw noSuchSession(ref);
}
