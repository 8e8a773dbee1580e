import { loadCatalog } from '../common/catalog.js';
import { createLogger } from '../common/logger.js';
import { connectBus } from '../common/bus.js';
import { logRecordedBus, withRecordedNats } from '../common/recorded-nats.js';
import { withTimeout } from '../common/timeout.js';
import { exitOnStartupError, exitWithSupervisor, onShutdown, reportReady } from '../common/process.js';
import { restartsFromEnv } from '../common/restarts.js';
import { buildApp } from './app.js';
import { StoppedBeforeAnswer } from './call/stopped-before-answer.js';
import { keyWarnings } from './auth/boot-warnings.js';
import { loadRateTiers } from './rate-limit/rate-tiers.js';
import { loadGatewayConfig } from './config.js';

// How often, while draining, connections that finished their response are closed: Node closes
// the idle ones once at close(), not those whose response ends later (keep-alive would hold
// them, and the exit, for fastify's 72 s keepAliveTimeout).
const IDLE_SWEEP_MS = 100;
// No client waits by then: the drain sends what is queued (the cancels of cut streams, the receipts
// of answers just sent, which reach their worker even if its acknowledgement comes too late).
const NATS_DRAIN_MS = 2000;
// At the drain deadline, how long the 503s of the JSON answers still awaited may take to be written.
const ANSWERS_FLUSH_MS = 1000;
const LISTEN_BACKLOG = 4096;

async function main(): Promise<void> {
  exitWithSupervisor();
  // Without NATS_URL, the bus `npm start` runs for DATA_DIR (it may have moved off a taken 4222).
  const found = withRecordedNats('gateway');
  const config = loadGatewayConfig(found.env);
  const restarts = restartsFromEnv();
  const logger = createLogger('gateway');
  if (found.recorded) logRecordedBus(logger, found.recorded);
  const catalog = loadCatalog(config.agentsFile, config.defaultModel);
  for (const warning of keyWarnings(config, loadRateTiers(config.rateTiersFile))) logger.warn(warning);
  const bus = await connectBus({
    url: config.natsUrl,
    role: 'gateway',
    name: 'agentbus-gateway',
    log: logger,
    client: config.nats,
  });
  const app = await buildApp({ config, bus, catalog, logger, restarts });
  // Thousands of clients connecting at once wait in the kernel's accept queue: Node's 511 overflows and
  // the kernel resets them. The kernel caps this at net.core.somaxconn (docs/deploy.md).
  const address = await app.listen({ port: config.port, host: config.host, backlog: LISTEN_BACKLOG });
  logger.info({ url: address, agents: catalog.names, nats: config.natsUrl }, 'gateway ready');
  reportReady({ url: address, agents: catalog.names });

  const { drainTimeoutMs } = config;
  onShutdown(logger, async () => {
    // app.close() stops accepting connections at once (requests arriving on kept-alive ones get
    // 503), waits for the responses in progress, then runs the onClose hooks. NATS stays up
    // meanwhile: open streams still need their reply frames.
    logger.info({ drainTimeoutMs }, 'draining: no new connections, open responses may finish');
    const sweep = setInterval(() => app.server.closeIdleConnections(), IDLE_SWEEP_MS);
    const closed = app.close().then(() => true);
    const inTime = await withTimeout(closed, drainTimeoutMs, () => false);
    if (!inTime) {
      // The answers still awaited end through the bus's own entries (no per-request bookkeeping): a JSON
      // answer, which has sent nothing, gets 503 bus_unavailable; streams are cut, never complete-looking.
      logger.warn({ drainTimeoutMs }, 'responses still open at GATEWAY_DRAIN_TIMEOUT_MS: closing them');
      bus.failInboxes(new StoppedBeforeAnswer());
      // Their connections close once those 503s are written; the rest are closed after ANSWERS_FLUSH_MS.
      if (!(await withTimeout(closed, ANSWERS_FLUSH_MS, () => false))) {
        app.server.closeAllConnections();
        await withTimeout(closed, 1000, () => false);
      }
    }
    clearInterval(sweep);
    await bus.drain(NATS_DRAIN_MS);
  });
}

main().catch((err: unknown) => exitOnStartupError('agentbus gateway', err));
