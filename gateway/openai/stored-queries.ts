import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AgentbusError, ID_PATTERN, PROTOCOL_VERSION, type Subjects } from '../../bus-schemas/index.js';
import type { Bus } from '../../common/bus.js';
import { queryStoredResponse } from '../bus/response-query.js';
import { refuseRepeatedParameters, requireDecimalDigits } from '../http/query-integer.js';

// The parts the stored-turn routes share (stored responses, stored chat completions): each reads or
// deletes one of the caller's committed turns through a worker, never the memory database itself.

export interface StoredTurnsDeps {
  bus: Bus;
  subjects: Subjects;
}

// One indexed read or delete on the worker: several seconds without a reply means a stuck worker.
const QUERY_TIMEOUT_MS = 5_000;
const TURN_ID = new RegExp(ID_PATTERN);
const LIST_MAX_LIMIT = 100;

export type ById = FastifyRequest<{ Params: { id: string } }>;

/**
 * Names the request before anything can refuse it: `X-Request-ID` (`memq-…`, as on /memory/last) is
 * on the answer and its errors alike, and in the gateway's log and on the bus, so an SDK's
 * `request_id` (and an error's `requestID`) finds the request there.
 */
export function nameRequest(request: FastifyRequest, reply: FastifyReply): string {
  const requestId = `memq-${randomBytes(12).toString('base64url')}`;
  request.log = reply.log = request.log.child({ requestId });
  reply.header('x-request-id', requestId);
  return requestId;
}

/** Which ids a route serves (`resp_`, `chatcmpl-`) and how it says one is not there. */
export interface StoredKind {
  prefix: string;
  notFound: (id: string) => AgentbusError;
}

/**
 * Asks a worker for the caller's stored turn `id` of `kind`; a malformed id reads as an unknown one,
 * and so does an id of another kind: memory keeps every turn by its request id, but a chat
 * completion is no response and a response no chat completion (OpenAI answers 404 too). Nor is a
 * fan-out part's id (`….<agent>`): the bus's own, which no client was given.
 */
export async function askStoredTurn(
  deps: StoredTurnsDeps,
  request: ById,
  requestId: string,
  op: 'get' | 'delete',
  kind: StoredKind,
) {
  const { id } = request.params;
  // As the worker's own 404 (a probe tells the two apart by nothing).
  if (!TURN_ID.test(id) || !id.startsWith(kind.prefix) || id.includes('.')) throw kind.notFound(id.slice(0, 128));
  try {
    return await queryStoredResponse(
      deps.bus,
      // This gateway shows a refusal apart (refusal_apart).
      { v: PROTOCOL_VERSION, request_id: requestId, tenant: request.tenant, response_id: id, op, refusal_apart: true },
      { subject: deps.subjects.memoryResponse, timeoutMs: QUERY_TIMEOUT_MS },
    );
  } catch (err) {
    // The worker names every turn a response; a chat completion's route says it in its own terms.
    if (err instanceof AgentbusError && err.code === 'response_not_found') throw kind.notFound(id);
    throw err;
  }
}

/**
 * Refuses a query parameter outside `known` or given more than once, and an `include` (`include[]` as the
 * SDKs send it) asking for anything: as on POST /v1/responses, there is no extra output (logprobs,
 * encrypted reasoning) to add.
 */
export function checkQuery(query: Record<string, unknown>, known: readonly string[]): void {
  for (const name of Object.keys(query)) {
    if (name === 'include' || name === 'include[]') {
      const values = [query[name]].flat().filter((value) => value !== '');
      if (values.length > 0)
        throw new AgentbusError(
          'invalid_request',
          '"include" cannot be honoured: no extra output (logprobs, encrypted reasoning, tool results) can be ' +
            'included; stored items come whole.',
          { param: 'include' },
        );
    } else if (!known.includes(name))
      throw new AgentbusError('invalid_request', `Unknown query parameter "${name.slice(0, 64)}".`, {
        param: name.slice(0, 64),
      });
    else refuseRepeatedParameters(query, [name]);
  }
}

export interface ListQuery {
  limit: number;
  order: 'asc' | 'desc';
  after?: string;
}

/** `limit`, `order` and `after` of a list query, as OpenAI's list endpoints take them. */
export function listQuery(query: Record<string, unknown>, defaultOrder: 'asc' | 'desc'): ListQuery {
  checkQuery(query, ['limit', 'order', 'after']);
  requireDecimalDigits(query, 'limit');
  const limit = query['limit'] === undefined ? 20 : Number(query['limit']);
  if (!Number.isInteger(limit) || limit < 1 || limit > LIST_MAX_LIMIT)
    throw new AgentbusError('invalid_request', `limit must be an integer from 1 to ${LIST_MAX_LIMIT}.`, {
      param: 'limit',
    });
  const order = query['order'] ?? defaultOrder;
  if (order !== 'asc' && order !== 'desc')
    throw new AgentbusError('invalid_request', 'order must be "asc" or "desc".', { param: 'order' });
  const after = query['after'];
  if (after !== undefined && typeof after !== 'string')
    throw new AgentbusError('invalid_request', 'after must be one item id.', { param: 'after' });
  return { limit, order, ...(after !== undefined ? { after } : {}) };
}

/**
 * One page of `all` (oldest first) as OpenAI's list object. An `after` not in the list is refused
 * by name: answering the first page again would make a client's pagination loop forever or repeat
 * items silently. `owner` says what an item is (`an input item of response "…"`), for that message.
 */
export function listPage<T extends { id: string }>(all: T[], { limit, order, after }: ListQuery, owner: string) {
  const items = order === 'desc' ? [...all].reverse() : all;
  let start = 0;
  if (after !== undefined) {
    start = items.findIndex((item) => item.id === after) + 1;
    if (start === 0)
      throw new AgentbusError(
        'invalid_request',
        `after "${after.slice(0, 128)}" is not ${owner}; send an id from the list (last_id) or ` + 'leave after out.',
        { param: 'after' },
      );
  }
  const data = items.slice(start, start + limit);
  return {
    object: 'list' as const,
    data,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
    has_more: start + limit < items.length,
  };
}
