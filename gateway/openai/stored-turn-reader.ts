import { randomBytes } from 'node:crypto';
import {
  AgentbusError,
  ID_PATTERN,
  PROTOCOL_VERSION,
  type StoredTurn,
  type Subjects,
} from '../../bus-schemas/index.js';
import type { Bus } from '../../common/bus.js';
import { queryStoredResponse } from '../bus/response-query.js';

/** Reads one stored response of the caller; undefined when there is none (or it is another key's). */
export type ReadStoredTurn = (responseId: string) => Promise<StoredTurn | undefined>;

// One indexed read on the worker: several seconds without a reply means a stuck worker.
const QUERY_TIMEOUT_MS = 5_000;
const RESPONSE_ID = new RegExp(ID_PATTERN);

/** Reads `tenant`'s stored responses over the bus (`<prefix>.memory.response`), as GET /v1/responses/{id} does. */
export function storedTurnReader(deps: { bus: Bus; subjects: Subjects }, tenant: string): ReadStoredTurn {
  return async (responseId) => {
    if (!RESPONSE_ID.test(responseId)) return undefined;
    const query = {
      v: PROTOCOL_VERSION,
      request_id: `memq-${randomBytes(12).toString('base64url')}`,
      tenant,
      response_id: responseId,
      op: 'get' as const,
      // This gateway shows a refusal as a part of its own (an item_reference's message has it too).
      refusal_apart: true,
    };
    try {
      const reply = await queryStoredResponse(deps.bus, query, {
        subject: deps.subjects.memoryResponse,
        timeoutMs: QUERY_TIMEOUT_MS,
      });
      return reply.type === 'turn' ? reply.turn : undefined;
    } catch (err) {
      if (err instanceof AgentbusError && err.code === 'response_not_found') return undefined;
      throw err;
    }
  };
}
