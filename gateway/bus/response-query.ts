import {
  decodeMemoryResponseReply,
  errorFromWire,
  type MemoryResponseReply,
  type MemoryResponseRequest,
} from '../../bus-schemas/index.js';
import type { Bus } from '../../common/bus.js';
import { askMemory, type MemoryQueryOptions } from './memory-query.js';

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
  const reply = decodeMemoryResponseReply(await askMemory(bus, query, options));
  if (reply.type === 'error') throw errorFromWire(reply.error);
  return reply;
}
