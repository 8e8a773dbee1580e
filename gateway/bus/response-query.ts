import { headers as natsHeaders } from '@nats-io/transport-node';
import {
  decodeMemoryResponseReply,
  encodeJson,
  errorFromWire,
  inboxScopes,
  type MemoryResponseReply,
  type MemoryResponseRequest,
} from '../../bus-schemas/index.js';
import type { Bus } from '../../common/bus.js';
import { requestFailure, type MemoryQueryOptions } from './memory-query.js';

/**
 * Asks the workers to read or delete one stored turn (`<prefix>.memory.response`): one request,
 * one reply, over the Bus's own random inbox. An error reply (`response_not_found`, …) is
 * rebuilt and thrown.
 */
export async function queryStoredResponse(
  bus: Bus,
  query: MemoryResponseRequest,
  options: MemoryQueryOptions,
): Promise<Exclude<MemoryResponseReply, { type: 'error' }>> {
  const h = natsHeaders();
  h.set('Agentbus-Request-Id', query.request_id);
  let data: Uint8Array;
  try {
    // A memory inbox: workers scoped to some agents may answer memory queries, and only on those.
    const asked = { timeoutMs: options.timeoutMs, headers: h, inboxScope: inboxScopes.memory };
    data = (await bus.request(options.subject, encodeJson(query), asked)).data;
  } catch (err) {
    throw requestFailure(err, options.timeoutMs);
  }
  const reply = decodeMemoryResponseReply(data);
  if (reply.type === 'error') throw errorFromWire(reply.error);
  return reply;
}
