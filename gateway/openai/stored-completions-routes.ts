import type { FastifyInstance } from 'fastify';
import { AgentbusError, noSuchCompletionMessage } from '../../bus-schemas/index.js';
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
  prefix: 'chatcmpl-',
  notFound: (id) => new AgentbusError('completion_not_found', noSuchCompletionMessage(id), { param: 'completion_id' }),
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
