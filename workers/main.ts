import { parseArgs } from 'node:util';
import { loadCatalog, selectAgents } from '../common/catalog.js';
import { createLogger } from '../common/logger.js';
import { connectNats } from '../common/nats.js';
import { exitOnStartupError, onShutdown, reportReady } from '../common/process.js';
import { loadWorkerConfig } from './config.js';
import { memoryDatabasePath, openMemoryDatabase } from './memory/database.js';
import { migrateToLatest } from './memory/migrate.js';
import { createProvider } from './providers/index.js';
import { startWorker } from './worker.js';

const USAGE = `usage: npm run worker -- [--agents name1,name2]

Serves the named agents (default: every agent in the catalog) on NATS.
Start more processes with the same agents to add capacity.`;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { agents: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const config = loadWorkerConfig();
  const log = createLogger('worker');
  const catalog = loadCatalog(config.agentsFile, config.defaultModel);
  const agents = selectAgents(catalog, (values.agents ?? '').split(',').map((s) => s.trim()).filter(Boolean));

  const db = openMemoryDatabase(memoryDatabasePath(config.dataDir));
  const applied = await migrateToLatest(db);
  if (applied.length > 0) log.info({ applied }, 'memory database migrated');
  const nc = await connectNats(config.natsUrl, 'agentbus-worker', log);
  const provider = createProvider(config.provider, { ollamaUrl: config.ollamaUrl, llamaCpp: config.llamaCpp, openai: config.openai });
  const worker = await startWorker({ nc, db, provider, agents, subjectPrefix: config.subjectPrefix, cacheTtlSeconds: config.cacheTtlSeconds, log });

  log.info({ id: worker.id, agents: agents.map((a) => a.name), nats: config.natsUrl, backend: provider.endpoint }, 'worker ready');
  const probe = await provider.probe(agents.map((a) => a.model));
  if (!probe.reachable) log.warn(probe.error);
  else if (probe.missingModels.length > 0) log.warn({ missing: probe.missingModels }, `${provider.name} at ${provider.endpoint} lacks models: run "ollama pull <model>" for each`);
  reportReady({ id: worker.id, agents: agents.map((a) => a.name), backend: { name: provider.name, url: provider.endpoint, ...probe } });

  let stopping = false;
  // A service whose subscriptions died serves nothing: exit, so a supervisor notices and restarts.
  void worker.stopped.then((err) => {
    if (stopping || !err) return;
    log.error({ err }, 'the worker service stopped on its own; exiting');
    process.exit(1);
  });
  onShutdown(log, async () => {
    stopping = true;
    await worker.stop(config.drainTimeoutMs);
    // NATS may already be gone (stopped first, or an outage): the database must still close.
    await nc.drain().catch((err: unknown) => log.warn({ err }, 'NATS drain failed while stopping'));
    await db.destroy();
  });
}

main().catch((err: unknown) => exitOnStartupError('agentbus worker', err));
