import Fastify, { type FastifyInstance } from 'fastify';
import t from 'tap';
import {
  AgentbusError,
  encodeJson,
  subjectsFor,
  type MemoryResponseRequest,
  type StoredTurn,
} from '../../bus-schemas/index.js';
import { registerErrorHandling } from '../../gateway/http/errors.js';
import { registerJsonParser } from '../../gateway/http/parse-json.js';
import type { StoredTurnsDeps } from '../../gateway/openai/stored-queries.js';
import { FakeBus } from './fake-bus.js';

/** The routes under test, as the gateway registers them. */
type StoredRoutes = (scope: FastifyInstance, deps: StoredTurnsDeps) => Promise<void>;

/**
 * A gateway of `routes` alone (tenant `t1`), on a fake bus whose one memory "worker" answers each
 * `memory.response` query with `turnOf(id)`'s turn, or with `error` for an id it has none of.
 * `asked` collects the queries, in order.
 */
export async function storedTurnGateway(
  routes: StoredRoutes,
  turnOf: (responseId: string) => StoredTurn | AgentbusError,
): Promise<{ app: FastifyInstance; asked: MemoryResponseRequest[] }> {
  const subjects = subjectsFor('agents');
  const bus = new FakeBus();
  const asked: MemoryResponseRequest[] = [];
  bus.subscribe(subjects.memoryResponse, {
    callback: (_err, msg) => {
      const query = JSON.parse(new TextDecoder().decode(msg.data)) as MemoryResponseRequest;
      asked.push(query);
      const turn = turnOf(query.response_id);
      const reply =
        turn instanceof AgentbusError
          ? { type: 'error', request_id: query.request_id, error: turn.toWire() }
          : query.op === 'get'
            ? { type: 'turn', request_id: query.request_id, turn }
            : { type: 'deleted', request_id: query.request_id, response_id: query.response_id };
      bus.publish(msg.reply!, encodeJson(reply));
    },
  });
  const app = Fastify();
  app.decorateRequest('tenant', 't1');
  registerErrorHandling(app);
  registerJsonParser(app, 64);
  await app.register((scope) => routes(scope, { bus, subjects }));
  await app.ready();
  t.teardown(() => app.close());
  return { app, asked };
}
