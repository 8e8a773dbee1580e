import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AgentbusError, noSuchCompletionMessage } from '../../bus-schemas/index.js';
import { ID_PREFIXES } from '../chat/id-prefixes.js';
import { unknownUrl } from '../routes/unknown-v1.js';
import { storedChatCompletion, storedMessages } from './stored-completion.js';
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

const COMPLETIONS: StoredKind = {
  prefix: ID_PREFIXES.chatCompletion,
  notFound: (id) => new AgentbusError('completion_not_found', noSuchCompletionMessage(id), { param: 'completion_id' }),
};

/**
 * OpenAI's list of stored completions and its metadata update, which agentbus does not serve: said by
 * name, as `unknown_url` still (no such route), not as an unknown URL, which reads as a typo in a path
 * the same client posts its chats to.
 */
const NOT_SERVED = {
  GET:
    'Listing stored chat completions (GET /v1/chat/completions) is not served: read one by its id ' +
    "(GET /v1/chat/completions/{id}), or list a conversation's turns with GET /memory/last?session=<id>.",
  POST:
    "Updating a stored chat completion's metadata (POST /v1/chat/completions/{id}) is not served: metadata is " +
    'set when the completion is created.',
};

const ask = (deps: StoredTurnsDeps, request: ById, requestId: string, op: 'get' | 'delete') =>
  askStoredTurn(deps, request, requestId, op, COMPLETIONS);

/**
 * `GET /v1/chat/completions/{id}`, `DELETE /v1/chat/completions/{id}` and `GET …/{id}/messages`:
 * OpenAI's stored chat completions, which here are the caller's committed chat turns (every one,
 * unless sent with `store: false`), read and deleted by a worker over the bus. Deleting one removes
 * the turn from its conversation's history. Another key's id answers like a missing one.
 */
export async function storedCompletionsRoutes(app: FastifyInstance, deps: StoredTurnsDeps): Promise<void> {
  const notServed = async (request: FastifyRequest<{ Params: { id?: string } }>) => {
    // `POST /v1/chat/completions/` (a stray slash) matches `:id` with an empty id: no update was
    // meant, so it is the unknown URL it was before this route, not a refused metadata update.
    if (request.params.id === '') throw unknownUrl(request);
    throw new AgentbusError('unknown_url', NOT_SERVED[request.method as keyof typeof NOT_SERVED]);
  };
  // Refused before a body is read, as every unknown /v1/ URL is (unknown-v1.ts): no 400 or 413 hides it.
  app.route({ method: 'GET', url: '/v1/chat/completions', onRequest: notServed, handler: notServed });
  app.route({ method: 'POST', url: '/v1/chat/completions/:id', onRequest: notServed, handler: notServed });

  app.get<{ Params: { id: string }; Querystring: Record<string, unknown> }>(
    '/v1/chat/completions/:id',
    async (request, reply) => {
      const requestId = nameRequest(request, reply);
      checkQuery(request.query, []);
      const answer = await ask(deps, request, requestId, 'get');
      return answer.type === 'turn' ? storedChatCompletion(answer.turn) : undefined;
    },
  );

  app.delete<{ Params: { id: string }; Querystring: Record<string, unknown> }>(
    '/v1/chat/completions/:id',
    async (request, reply) => {
      const requestId = nameRequest(request, reply);
      checkQuery(request.query, []);
      await ask(deps, request, requestId, 'delete');
      return { id: request.params.id, object: 'chat.completion.deleted' as const, deleted: true };
    },
  );

  app.get<{ Params: { id: string }; Querystring: Record<string, unknown> }>(
    '/v1/chat/completions/:id/messages',
    async (request, reply) => {
      const requestId = nameRequest(request, reply);
      const query = listQuery(request.query, 'asc');
      const answer = await ask(deps, request, requestId, 'get');
      const all = answer.type === 'turn' ? storedMessages(answer.turn) : [];
      return listPage(all, query, `a message of chat completion "${request.params.id}"`);
    },
  );
}
