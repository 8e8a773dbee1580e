import type { ExpressionBuilder, Kysely } from 'kysely';
import { systemClock, type Clock } from '../../common/clock.js';
import { prepareQuery } from './prepared-query.js';
import { ofRequest, requestParts, requestRoot, type RequestParts } from './request-parts.js';
import type { MemoryDatabase } from './schema.js';

// A turn is committed a moment after its client received it (the receipt travels back to the
// worker), and a quick client may already have sent its next message. Before reading history,
// a request waits — briefly, bounded — for its conversation's pending turns to be settled, so
// it sees what its client saw. Pending turns of the request's own fan-out parts are not waited for.

interface Pending extends RequestParts {
  sessionId: string;
  now: number;
}

// A pending turn whose writer stopped waiting for its receipt long ago (`pending_until` passed) was
// left by a worker that died before it could discard it: nobody will settle it, so nobody waits.
const stillAwaited = (eb: ExpressionBuilder<MemoryDatabase, 'turns'>, now: number) =>
  eb.or([eb('turns.pending_until', 'is', null), eb('turns.pending_until', '>=', now)]);

const pendingInSession = prepareQuery((db: Kysely<MemoryDatabase>, p: Pending) =>
  db
    .selectFrom('turns')
    .select('id')
    .where('session_id', '=', p.sessionId)
    .where('state', '=', 'pending')
    // Always true of a pending turn (it gets its place at commit), and it lets the session's
    // (session_id, commit_seq) index find the pending few instead of visiting its whole history.
    .where('commit_seq', 'is', null)
    .where((eb) => stillAwaited(eb, p.now))
    .where((eb) => eb.not(ofRequest(eb, p)))
    .limit(1),
);

// The turn of a completion id, or of one of its fan-out parts (which name the conversation too).
const pendingTurn = prepareQuery((db: Kysely<MemoryDatabase>, p: RequestParts & { now: number }) =>
  db
    .selectFrom('turns')
    .select('id')
    .where('state', '=', 'pending')
    .where((eb) => stillAwaited(eb, p.now))
    .where((eb) => ofRequest(eb, p))
    .limit(1),
);

/** How long and how often to look again. */
export interface SettleWait {
  maxWaitMs: number;
  everyMs: number;
  clock?: Clock;
  /** The request was stopped (cancelled, requester gone): look no more. */
  signal?: AbortSignal;
}

export const SETTLE_WAIT: SettleWait = { maxWaitMs: 2000, everyMs: 5 };

async function until(check: () => Promise<boolean>, wait: SettleWait): Promise<boolean> {
  const clock = wait.clock ?? systemClock;
  const deadline = clock.now() + wait.maxWaitMs;
  for (;;) {
    if (await check()) return true;
    if (clock.now() >= deadline || wait.signal?.aborted) return false;
    await new Promise<void>((resolve) => clock.setTimeout(resolve, wait.everyMs));
  }
}

/**
 * Resolves once the session has no pending turn of another request (true), or after
 * `maxWaitMs` (false: a slow reader's turn stays pending; the request goes on without it).
 */
export function settledSession(
  db: Kysely<MemoryDatabase>,
  sessionId: string,
  requestId: string,
  wait: SettleWait = SETTLE_WAIT,
): Promise<boolean> {
  const parts = requestParts(requestRoot(requestId));
  const clock = wait.clock ?? systemClock;
  const params = () => ({ sessionId, ...parts, now: clock.now() });
  return until(async () => (await pendingInSession.execute(db, params())).rows.length === 0, wait);
}

/** True when `requestId` (or a fan-out part of it) is pending: a completion id its client holds a moment early. */
export async function isPending(db: Kysely<MemoryDatabase>, requestId: string, clock = systemClock): Promise<boolean> {
  return (await pendingTurn.execute(db, { ...requestParts(requestId), now: clock.now() })).rows.length > 0;
}

/** Resolves once the turn `requestId` is no longer pending (committed or discarded), or after the wait. */
export function settledTurn(db: Kysely<MemoryDatabase>, requestId: string, wait: SettleWait = SETTLE_WAIT) {
  return until(async () => !(await isPending(db, requestId, wait.clock)), wait);
}
