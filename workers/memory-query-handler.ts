import type { Kysely } from 'kysely';
import { AgentbusError, decodeMemoryLastRequest, encodeJson, type MemoryLastReply } from '../bus-schemas/index.js';
import type { Logger } from '../common/logger.js';
import { memoryFailure, refuseWhileUnwritable } from './memory-errors.js';
import type { MemoryHealth } from './memory/health.js';
import { lastTurns } from './memory/last-turns.js';
import type { MemoryDatabase } from './memory/schema.js';

export interface MemoryQueryDeps {
  db: Kysely<MemoryDatabase>;
  log: Logger;
  /** `DATA_DIR (…)` or `DATABASE_URL (…)`, password masked: named when memory fails. */
  memoryAt?: string | undefined;
  /** While its probe cannot write, queries are refused at once instead of each waiting on the database. */
  memoryHealth?: Pick<MemoryHealth, 'problem'> | undefined;
}

/** A memory query as it arrives from NATS (a micro service message fits). */
export interface IncomingMemoryQuery {
  data: Uint8Array;
  reply?: string;
  /** Publishes on the reply subject; throws when NATS refuses the message (e.g. max_payload). */
  respond(data: Uint8Array): boolean;
}

/** How a query ended, for the service's statistics. */
export type MemoryQueryOutcome = { ok: true } | { ok: false; code: string };

/**
 * Answers one `<prefix>.memory.last` query with one reply: the turns, or an error. An invalid
 * query, an unknown session or a reply too large for the bus is answered, never thrown.
 */
export async function handleMemoryQuery(deps: MemoryQueryDeps, msg: IncomingMemoryQuery): Promise<MemoryQueryOutcome> {
  if (!msg.reply) {
    deps.log.warn('memory query without a reply subject dropped');
    return { ok: false, code: 'invalid_envelope' };
  }
  let requestId = 'unknown';
  try {
    const query = decodeMemoryLastRequest(msg.data);
    requestId = query.request_id;
    refuseWhileUnwritable(deps);
    const result = await lastTurns(deps.db, query.session, query.tenant, query.limit);
    const reply: MemoryLastReply = {
      type: 'turns',
      request_id: requestId,
      session_id: result.sessionId,
      turns: result.turns,
    };
    try {
      msg.respond(encodeJson(reply));
    } catch (err) {
      // Long answers can make N turns exceed the server's max_payload; fewer turns will fit.
      throw new AgentbusError(
        'request_too_large',
        `The last ${query.limit} turns are larger than the message bus carries (${(err as Error).message}); ` +
          'ask for fewer with a smaller limit.',
        { param: 'limit', cause: err },
      );
    }
    return { ok: true };
  } catch (caught) {
    // A database that cannot be reached or refuses connections is memory_unavailable (503), not a bug.
    const err = memoryFailure(caught, deps.memoryAt);
    const error =
      err instanceof AgentbusError
        ? err
        : new AgentbusError('internal_error', `memory query failed: ${(err as Error)?.message ?? String(err)}`, {
            cause: err,
          });
    const level = error.code === 'internal_error' ? 'error' : 'info';
    deps.log[level]({ requestId, code: error.code, err: error.cause ?? error }, error.message);
    const reply: MemoryLastReply = { type: 'error', request_id: requestId, error: error.toWire() };
    try {
      msg.respond(encodeJson(reply));
    } catch (publishError) {
      deps.log.warn(
        { err: publishError, requestId },
        'could not publish the memory query error reply (NATS connection gone)',
      );
    }
    return { ok: false, code: error.code };
  }
}
