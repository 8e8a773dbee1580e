import type { Bus } from '../../common/bus.js';
import { ConfigError } from '../../common/env.js';
import type { Logger } from '../../common/logger.js';
import type { GatewayConfig } from '../config.js';
import { createRateLimiter, type RateLimiter } from './rate-limiter.js';
import { loadRateTiers } from './rate-tiers.js';
import { createTenantStore } from './tenant-store.js';

/**
 * The gateway's rate limiter, set up at boot: RATE_TIERS_FILE is read and checked here (a
 * broken file, or an API_KEYS_TIER it lacks, stops the gateway), and the KV bucket is opened
 * once so the first request does not pay for it. A bucket that cannot be opened yet is only a
 * warning: the limiter retries on later requests (RATE_LIMIT_STORE_DOWN says what they get meanwhile).
 */
export async function createGatewayRateLimiter(config: GatewayConfig, bus: Bus, log: Logger): Promise<RateLimiter> {
  const tiers = loadRateTiers(config.rateTiersFile);
  if (!tiers.has(config.apiKeysTier)) {
    throw new ConfigError([
      `API_KEYS_TIER=${JSON.stringify(config.apiKeysTier)} is not a tier of ${tiers.source}; ` +
        `it has: ${tiers.names.join(', ')}`,
    ]);
  }
  const store = createTenantStore({ bus, bucket: config.rateLimitBucket, opTimeoutMs: config.rateLimitTimeoutMs, log });
  try {
    await store.open();
  } catch (err) {
    log.warn(
      { err, bucket: config.rateLimitBucket },
      `cannot open the rate limit bucket yet; until it opens, limited keys' requests are ${
        config.rateLimitStoreDown === 'closed' ? 'refused (RATE_LIMIT_STORE_DOWN=closed)' : 'unlimited'
      }`,
    );
  }
  return createRateLimiter({
    bus,
    tiers,
    bucket: config.rateLimitBucket,
    opTimeoutMs: config.rateLimitTimeoutMs,
    storeDown: config.rateLimitStoreDown,
    log,
    store,
  });
}
