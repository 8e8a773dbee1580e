import type { FastifyInstance } from 'fastify';
import { AgentbusError, noSuchResponseMessage } from '../../bus-schemas/index.js';
import { ID_PREFIXES } from '../chat/id-prefixes.js';
import { storedInputItems, storedResponseObject } from './stored-response.js';
import {
  askStoredTurn,
  checkQuery,
  listPage,
  listQuery,
  nameRequest,
  type ById,
  type StoredKind,
  type StoredTurnsDeps,
} from './stored-queries.js';

const RESPONSES: StoredKind = {
  prefix: ID_PREFIXES.response,
  notFound: (id) => new AgentbusError('response_not_found', noSuchResponseMessage(id), { param: 'response_id' }),
};

const ask = (deps: StoredTurnsDeps, request: ById, requestId: string, op: 'get' | 'delete') =>
  askStoredTurn(deps, request, requestId, op, RESPONSES);

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

/**
 * `GET /v1/responses/{id}`, `DELETE /v1/responses/{id}`, `GET /v1/responses/{id}/input_items` and
 * `POST /v1/responses/{id}/cancel`: stored responses are the caller's committed turns, read and deleted
 * by a worker over the bus (the gateway never opens the memory database). Another key's id answers like
 * a missing one.
 */
export async function storedResponsesRoutes(app: FastifyInstance, deps: StoredTurnsDeps): Promise<void> {
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
      const query = listQuery(request.query, 'desc');
      const answer = await ask(deps, request, requestId, 'get');
      const all = answer.type === 'turn' ? storedInputItems(answer.turn) : [];
      return listPage(all, query, `an input item of response "${request.params.id}"`);
    },
  );
}
