import {
  AgentbusError,
  decodeMemoryResponseRequest,
  encodeJson,
  type MemoryResponseReply,
} from '../bus-schemas/index.js';
import { memoryFailure, refuseWhileUnwritable } from './memory-errors.js';
import type { IncomingMemoryQuery, MemoryQueryDeps, MemoryQueryOutcome } from './memory-query-handler.js';
import { isPending, settledTurn } from './memory/pending.js';
import { deleteStoredTurn, storedTurn } from './memory/stored-turns.js';

export type MemoryResponseDeps = MemoryQueryDeps;

async function answer(deps: MemoryResponseDeps, data: Uint8Array): Promise<MemoryResponseReply> {
  const { db } = deps;
  const query = decodeMemoryResponseRequest(data);
  refuseWhileUnwritable(deps);
  // A client holds its answer's id a moment before the turn is committed (delivery receipts):
  // reading it back at once (a spoken answer's audio id, GET /v1/responses/{id}) waits for that.
  if (await isPending(db, query.response_id)) await settledTurn(db, query.response_id);
  if (query.op === 'get') {
    const { refusal, ...turn } = await storedTurn(db, query.response_id, query.tenant);
    // A gateway from before `refusal_apart` would refuse the field: the refusal is in the text for it.
    const apart = refusal !== undefined && query.refusal_apart === true ? { refusal } : {};
    return { type: 'turn', request_id: query.request_id, turn: { ...turn, ...apart } };
  }
  await deleteStoredTurn(db, query.response_id, query.tenant);
  return { type: 'deleted', request_id: query.request_id, response_id: query.response_id };
}

/** The request id of a query, for the error reply, if the query can be read at all. */
function requestIdOf(data: Uint8Array): string {
  try {
    const id = (JSON.parse(new TextDecoder().decode(data)) as { request_id?: unknown }).request_id;
    return typeof id === 'string' && /^[A-Za-z0-9._:-]{1,128}$/.test(id) ? id : 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * Answers one `<prefix>.memory.response` query (read or delete one stored turn) with one reply.
 * An invalid query or an unknown response is answered as an error, never thrown.
 */
export async function handleMemoryResponseQuery(
  deps: MemoryResponseDeps,
  msg: IncomingMemoryQuery,
): Promise<MemoryQueryOutcome> {
  if (!msg.reply) {
    deps.log.warn('response query without a reply subject dropped');
    return { ok: false, code: 'invalid_envelope' };
  }
  let reply: MemoryResponseReply;
  let outcome: MemoryQueryOutcome = { ok: true };
  try {
    reply = await answer(deps, msg.data);
  } catch (err) {
    const error = AgentbusError.from(memoryFailure(err, deps.memoryAt), 'response query failed');
    const level = error.code === 'internal_error' ? 'error' : 'info';
    deps.log[level]({ code: error.code, err: error.cause ?? error }, error.message);
    reply = { type: 'error', request_id: requestIdOf(msg.data), error: error.toWire() };
    outcome = { ok: false, code: error.code };
  }
  try {
    msg.respond(encodeJson(reply));
  } catch (publishError) {
    deps.log.warn({ err: publishError }, 'could not publish the response query reply');
    return { ok: false, code: 'internal_error' };
  }
  return outcome;
}
