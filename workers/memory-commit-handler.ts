import type { Kysely } from 'kysely';
import { decodeDeliveryReceipt } from '../bus-schemas/index.js';
import type { Logger } from '../common/logger.js';
import type { IncomingMemoryQuery, MemoryQueryOutcome } from './memory-query-handler.js';
import { commitTurn, findTurn, pendingSessionOf } from './memory/delivery.js';
import type { MemoryDatabase } from './memory/schema.js';

export interface MemoryCommitDeps {
  db: Kysely<MemoryDatabase>;
  log: Logger;
}

/**
 * Answers one `<prefix>.memory.commit`: the delivery receipt of an answer whose own worker did
 * not acknowledge it (killed between `done` and its commit, stalled, cut off from NATS, or its
 * commit failed). The client
 * has the whole answer, so any worker commits the pending turn, as its worker would have; a turn
 * committed or discarded meanwhile stays as it is. The empty reply says it was handled; after a
 * memory failure there is none, and the gateway asks again.
 */
export async function handleMemoryCommit(
  deps: MemoryCommitDeps,
  msg: IncomingMemoryQuery,
): Promise<MemoryQueryOutcome> {
  let requestId: string;
  try {
    const receipt = decodeDeliveryReceipt(msg.data);
    requestId = receipt.request_id;
    // Only a delivered answer is committed here; an undelivered one is discarded by its worker or the sweep.
    const session = receipt.delivered ? await pendingSessionOf(deps.db, requestId) : undefined;
    if (session !== undefined && (await commitTurn(deps.db, requestId, session)))
      deps.log.info({ requestId }, 'committed a delivered turn its worker left pending');
    // Its worker gave up waiting (the deadline plus RECEIPT_GRACE_MS) and discarded it: the client
    // has an answer memory does not, which an operator should be able to see.
    else if (receipt.delivered && session === undefined && (await findTurn(deps.db, requestId)) === undefined)
      deps.log.warn({ requestId }, 'a delivered answer has no turn: it was discarded before its receipt came');
  } catch (err) {
    deps.log.warn({ err }, 'could not commit a delivered turn for the gateway');
    return { ok: false, code: 'memory_unavailable' };
  }
  if (msg.reply) msg.respond(new Uint8Array(0));
  return { ok: true };
}
