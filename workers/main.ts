import { parseArgs } from 'node:util';
import { loadCatalog, selectAgents } from '../common/catalog.js';
import { createLogger } from '../common/logger.js';
import { loadRedactor } from '../common/redaction.js';
import { connectBus } from '../common/bus.js';
import { logRecordedBus, withRecordedNats } from '../common/recorded-nats.js';
import { exitOnStartupError, exitWithSupervisor, onShutdown, reportReady } from '../common/process.js';
import { restartsFromEnv } from '../common/restarts.js';
import { loadWorkerConfig } from './config.js';
import { hostname } from 'node:os';
import { sweepPendingTurns } from './memory/delivery.js';
import { startPendingSweeps } from './memory/pending-sweeps.js';
import { watchMemory } from './memory/health.js';
import { openMigratedMemory } from './memory/open.js';
import { providerChainsFromConfig } from './provider-chains-from-config.js';
import { audioChainsFromConfig } from './audio/from-config.js';
import { startWorker } from './worker.js';
import { watchBackends } from './backend-health.js';

// The answers are over by then (worker.stop waited for them): the drain only flushes frames.
const NATS_DRAIN_MS = 5000;

// Older than any request's deadline plus its receipt wait can be (REQUEST_TIMEOUT_MS is at most
// an hour): a pending turn this old belongs to no live request.
const PENDING_TURN_MAX_AGE_MS = 2 * 3_600_000;

const USAGE = `usage: npm run worker -- [--agents name1,name2]

Serves the named agents (default: every agent in the catalog) on NATS.
Start more processes with the same agents to add capacity.`;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { agents: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  exitWithSupervisor();
  // Without NATS_URL, the bus `npm start` runs for DATA_DIR (it may have moved off a taken 4222).
  const found = withRecordedNats('worker');
  const config = loadWorkerConfig(found.env);
  const restarts = restartsFromEnv();
  const log = createLogger('worker');
  if (found.recorded) logRecordedBus(log, found.recorded);
  const catalog = loadCatalog(config.agentsFile, config.defaultModel);
  const agents = selectAgents(
    catalog,
    (values.agents ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );

  const { db, at: memoryAt, applied } = await openMigratedMemory(config.memory, log);
  if (applied.length > 0) log.info({ applied, memory: memoryAt }, 'memory database migrated');
  // Loaded before connecting: broken patterns must stop the worker, not leak what they miss.
  const redactor = loadRedactor(config.secretPatternsFile);
  const bus = await connectBus({
    url: config.natsUrl,
    role: 'worker',
    name: 'agentbus-worker',
    log,
    client: config.nats,
  });
  const providers = providerChainsFromConfig(config, redactor, log);
  const audio = audioChainsFromConfig(config, redactor, log);
  const backendHealth = watchBackends(providers, agents, config.backendProbeIntervalMs, log);
  const memoryHealth = watchMemory(db, {
    intervalMs: config.memoryProbeIntervalMs,
    worker: `${hostname()}:${process.pid}`,
    log,
  });
  await memoryHealth.probeNow();
  const worker = await startWorker({
    bus,
    db,
    memoryAt,
    providers,
    agents,
    subjectPrefix: config.subjectPrefix,
    cacheTtlSeconds: config.cacheTtlSeconds,
    cacheMode: config.cacheMode,
    admission: config.admission,
    audio,
    transcription: config.transcription,
    backendHealth,
    memoryHealth,
    restarts,
    log,
  });

  log.info(
    {
      id: worker.id,
      agents: agents.map((a) => a.name),
      nats: config.natsUrl,
      memory: memoryAt,
      // Named in /ready when workers of an agent report different ones: find which is where.
      memoryId: worker.memoryId,
      localProviders: config.localProviders,
    },
    'worker ready',
  );
  const backends = await backendHealth.probeNow();
  // scripts/start.ts reports `backend`: PROVIDER's when an agent uses it, else the first one.
  const backend = backends.find((b) => b.name === config.provider) ?? backends[0];
  reportReady({ id: worker.id, agents: agents.map((a) => a.name), backend, backends });
  // Turns a dead worker left waiting for their receipt were never delivered: they go. After ready,
  // not before: a sweep reads every turn (220 ms at 500,000), in steps that let requests through.
  const sweeps = startPendingSweeps({
    sweep: (stop) => sweepPendingTurns(db, new Date(Date.now() - PENDING_TURN_MAX_AGE_MS), stop),
    log,
  });

  let stopping = false;
  // A service whose subscriptions died serves nothing: exit, so a supervisor notices and restarts.
  const exitOnDeath = (err: Error | null) => {
    if (stopping || !err) return;
    log.error({ err }, 'the worker service stopped on its own; exiting');
    process.exit(1);
  };
  worker.stopped.then(exitOnDeath, exitOnDeath);
  onShutdown(log, async () => {
    stopping = true;
    // Ends the sweep under way after its step, while the answers drain; awaited before the database closes.
    const sweepsStopped = sweeps.stop();
    backendHealth.stop();
    memoryHealth.stop();
    await worker.stop(config.drainTimeoutMs);
    // NATS may already be gone (stopped first, or an outage): the drain is bounded, and the
    // database must still close.
    await bus.drain(NATS_DRAIN_MS);
    await sweepsStopped;
    await db.destroy();
  });
}

main().catch((err: unknown) => exitOnStartupError('agentbus worker', err));
