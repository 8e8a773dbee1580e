import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  AgentbusError,
  ID_PATTERN,
  noSuchResponseMessage,
  PROTOCOL_VERSION,
  type Subjects,
} from '../../bus-schemas/index.js';
import type { Bus } from '../../common/bus.js';
import { queryStoredResponse } from '../bus/response-query.js';
import { refuseRepeatedParameters, requireDecimalDigits } from '../http/query-integer.js';
import { RESPONSE_ID_PREFIX } from './responses-to-chat.js';
import { storedInputItems, storedResponseObject } from './stored-response.js';

export interface StoredResponsesDeps {
  bus: Bus;
  subjects: Subjects;
}

// One indexed read or delete on the worker: several seconds without a reply means a stuck worker.
const QUERY_TIMEOUT_MS = 5_000;
const RESPONSE_ID = new RegExp(ID_PATTERN);
const INPUT_ITEMS_MAX_LIMIT = 100;

type ById = FastifyRequest<{ Params: { id: string } }>;

/**
 * Names the request before anything can refuse it: `X-Request-ID` (`memq-…`, as on /memory/last) is
 * on the answer and its errors alike, and in the gateway's log and on the bus, so an SDK's
 * `request_id` (and an error's `requestID`) finds the request there.
 */
function nameRequest(request: FastifyRequest, reply: FastifyReply): string {
  const requestId = `memq-${randomBytes(12).toString('base64url')}`;
  request.log = reply.log = request.log.child({ requestId });
  reply.header('x-request-id', requestId);
  return requestId;
}

/**
 * Asks a worker for the caller's stored response `id`; a malformed id reads as an unknown one. So
 * does any id the Responses API did not hand out (a chat completion's `chatcmpl-…`, say): memory
 * keeps every turn by its request id, but only a `resp_` one is a response (OpenAI answers 404 too).
 */
async function ask(deps: StoredResponsesDeps, request: ById, requestId: string, op: 'get' | 'delete') {
  const { id } = request.params;
  // Nor is a fan-out part's (`resp_….<agent>`): the bus's own id, which no client was given.
  if (!RESPONSE_ID.test(id) || !id.startsWith(RESPONSE_ID_PREFIX) || id.includes('.'))
    // As the worker's own 404 (a probe tells the two apart by nothing).
    throw new AgentbusError('response_not_found', noSuchResponseMessage(id.slice(0, 128)), {
      param: 'response_id',
    });
  return queryStoredResponse(
    deps.bus,
    // This gateway shows a refusal as a part of its own (refusal_apart).
    { v: PROTOCOL_VERSION, request_id: requestId, tenant: request.tenant, response_id: id, op, refusal_apart: true },
    { subject: deps.subjects.memoryResponse, timeoutMs: QUERY_TIMEOUT_MS },
  );
}

/**
 * Refuses a query parameter outside `known` or given more than once, and an `include` (`include[]` as the
 * SDKs send it) asking for anything: as on POST /v1/responses, there is no extra output (logprobs,
 * encrypted reasoning) to add.
 */
function checkQuery(query: Record<string, unknown>, known: readonly string[]): void {
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

/**
 * A retrieve's query. `stream=true` replays a background response's events on OpenAI; agentbus runs
 * none, and a JSON body where the SDK expects events would read as an empty stream, so it is refused.
 */
function retrieveQuery(query: Record<string, unknown>): void {
  checkQuery(query, ['stream', 'starting_after', 'include_obfuscation']);
  if (query['stream'] !== undefined && query['stream'] !== 'false')
    throw new AgentbusError(
      'invalid_request',
      '"stream" cannot be honoured: only background responses can be streamed again, and agentbus runs none; ' +
        'retrieve the stored response without stream.',
      { param: 'stream' },
    );
}

/** `limit` and `order` of a list query, as OpenAI's list endpoints take them. */
function listQuery(query: Record<string, unknown>): { limit: number; order: 'asc' | 'desc'; after?: string } {
  checkQuery(query, ['limit', 'order', 'after']);
  requireDecimalDigits(query, 'limit');
  const limit = query['limit'] === undefined ? 20 : Number(query['limit']);
  if (!Number.isInteger(limit) || limit < 1 || limit > INPUT_ITEMS_MAX_LIMIT)
    throw new AgentbusError('invalid_request', `limit must be an integer from 1 to ${INPUT_ITEMS_MAX_LIMIT}.`, {
      param: 'limit',
    });
  const order = query['order'] ?? 'desc';
  if (order !== 'asc' && order !== 'desc')
    throw new AgentbusError('invalid_request', 'order must be "asc" or "desc".', { param: 'order' });
  const after = query['after'];
  if (after !== undefined && typeof after !== 'string')
    throw new AgentbusError('invalid_request', 'after must be one item id.', { param: 'after' });
  return { limit, order, ...(after !== undefined ? { after } : {}) };
}

/**
 * Where the page after item `after` starts. An id not in the list is refused by name: answering
 * the first page again would make a client's pagination loop forever or repeat items silently.
 */
function startAfter(items: ReadonlyArray<{ id: string }>, after: string, responseId: string): number {
  const index = items.findIndex((item) => item.id === after);
  if (index === -1)
    throw new AgentbusError(
      'invalid_request',
      `after "${after.slice(0, 128)}" is not an input item of response "${responseId}"; ` +
        'send an id from the list (last_id) or leave after out.',
      { param: 'after' },
    );
  return index + 1;
}

/**
 * `GET /v1/responses/{id}`, `DELETE /v1/responses/{id}`, `GET /v1/responses/{id}/input_items` and
 * `POST /v1/responses/{id}/cancel`: stored responses are the caller's committed turns, read and deleted
 * by a worker over the bus (the gateway never opens the memory database). Another key's id answers like
 * a missing one.
 */
export async function storedResponsesRoutes(app: FastifyInstance, deps: StoredResponsesDeps): Promise<void> {
  app.get<{ Params: { id: string }; Querystring: Record<string, unknown> }>(
    '/v1/responses/:id',
    async (request, reply) => {
      const requestId = nameRequest(request, reply);
      retrieveQuery(request.query);
      const answer = await ask(deps, request, requestId, 'get');
      return answer.type === 'turn' ? storedResponseObject(answer.turn) : undefined;
    },
  );

  app.delete<{ Params: { id: string } }>('/v1/responses/:id', async (request, reply) => {
    await ask(deps, request, nameRequest(request, reply), 'delete');
    return { id: request.params.id, object: 'response' as const, deleted: true };
  });

  // OpenAI cancels only a background response, and agentbus creates none (`background: true` is
  // refused): a stored one is found as GET finds it, so an unknown id is the same 404, then refused.
  app.post<{ Params: { id: string }; Querystring: Record<string, unknown> }>(
    '/v1/responses/:id/cancel',
    { config: { takesNoBody: true } },
    async (request, reply) => {
      const requestId = nameRequest(request, reply);
      checkQuery(request.query, []);
      await ask(deps, request, requestId, 'get');
      throw new AgentbusError(
        'invalid_request',
        'Only responses created with background=true can be cancelled; this gateway does not create background ' +
          'responses.',
        { param: 'response_id' },
      );
    },
  );

  app.get<{ Params: { id: string }; Querystring: Record<string, unknown> }>(
    '/v1/responses/:id/input_items',
    async (request, reply) => {
      const requestId = nameRequest(request, reply);
      const { limit, order, after } = listQuery(request.query);
      const answer = await ask(deps, request, requestId, 'get');
      const all = answer.type === 'turn' ? storedInputItems(answer.turn) : [];
      if (order === 'desc') all.reverse();
      const start = after === undefined ? 0 : startAfter(all, after, request.params.id);
      const data = all.slice(start, start + limit);
      return {
        object: 'list' as const,
        data,
        first_id: data[0]?.id ?? null,
        last_id: data.at(-1)?.id ?? null,
        has_more: start + limit < all.length,
      };
    },
  );
}
