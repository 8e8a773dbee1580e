import { loadCatalog } from '../common/catalog.js';
import { createLogger } from '../common/logger.js';
import { connectNats } from '../common/nats.js';
import { exitOnStartupError, onShutdown, reportReady } from '../common/process.js';
import { buildApp } from './app.js';
import { loadGatewayConfig } from './config.js';

const CLOSE_TIMEOUT_MS = 10_000;

async function main(): Promise<void> {
  const config = loadGatewayConfig();
  const logger = createLogger('gateway');
  const catalog = loadCatalog(config.agentsFile, config.defaultModel);
  if (config.devKey) logger.warn('API_KEYS is not set: only the development key "local-only" is accepted. Set API_KEYS before exposing the gateway.');
  const nc = await connectNats(config.natsUrl, 'agentbus-gateway', logger);
  const app = await buildApp({ config, nc, catalog, logger });
  const address = await app.listen({ port: config.port, host: config.host });
  logger.info({ url: address, agents: catalog.names, nats: config.natsUrl }, 'gateway ready');
  reportReady({ url: address, agents: catalog.names });

  onShutdown(logger, async () => {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([app.close(), new Promise((resolve) => { timer = setTimeout(resolve, CLOSE_TIMEOUT_MS); })]);
    clearTimeout(timer);
    await nc.drain().catch((err: unknown) => logger.warn({ err }, 'NATS drain failed while stopping'));
  });
}

main().catch((err: unknown) => exitOnStartupError('agentbus gateway', err));
