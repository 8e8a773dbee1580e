import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import t from 'tap';
import { loadCatalog } from '../../common/catalog.js';
import type { Caller } from '../../gateway/auth/caller.js';
import { modelsRoutes } from '../../gateway/routes/models.js';

// GET /v1/models and /v1/models/:model as a scoped key sees them: "auto" only for a key that may
// call a chat agent, since the router has nothing else to choose from.

const catalog = loadCatalog(fileURLToPath(new URL('../e2e/fixtures/embedding-agents.json', import.meta.url)));

async function appFor(agents: string[] | null) {
  const app = Fastify();
  const caller: Caller = { tenant: 't', name: 'k', agents, tier: 'unlimited', private: false };
  app.decorateRequest('caller', null as unknown as Caller);
  app.decorateRequest('pathAgent', undefined);
  app.addHook('onRequest', async (request) => {
    request.caller = caller;
  });
  await app.register(modelsRoutes, { catalog });
  return app;
}

t.test('a key of chat and embedding agents is offered auto', async (t) => {
  const app = await appFor(['testing', 'nomic']);
  t.teardown(() => app.close());
  const list = (await app.inject({ url: '/v1/models' })).json();
  t.same(
    list.data.map((m: { id: string }) => m.id),
    ['testing', 'nomic', 'auto'],
  );
  t.equal((await app.inject({ url: '/v1/models/auto' })).statusCode, 200);
});

t.test('a key of embedding agents only is not: auto would always be refused', async (t) => {
  const app = await appFor(['nomic']);
  t.teardown(() => app.close());
  const list = (await app.inject({ url: '/v1/models' })).json();
  t.same(
    list.data.map((m: { id: string }) => m.id),
    ['nomic'],
  );
  const auto = await app.inject({ url: '/v1/models/auto' });
  t.equal(auto.statusCode, 404);
  t.match(auto.json(), { message: /^The model "auto" does not exist\. Known agents: nomic\.$/ });
  const unknown = await app.inject({ url: '/v1/models/nope' });
  t.equal(unknown.statusCode, 404);
});
