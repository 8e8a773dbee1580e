import type { RateTiers } from '../rate-limit/rate-tiers.js';
import { isLoopbackHost, type GatewayConfig } from '../config.js';

/**
 * What the gateway warns about at boot concerning its keys, one line each: the public dev key
 * in use, and keys from API_KEYS / PRIVATE_API_KEYS left without a rate limit on an address
 * other machines can reach (API_KEYS_TIER defaults to `unlimited`, which suits development,
 * not a deployment).
 */
export function keyWarnings(
  config: Pick<GatewayConfig, 'devKey' | 'keysFile' | 'host' | 'apiKeys' | 'privateApiKeys' | 'apiKeysTier'>,
  tiers: Pick<RateTiers, 'resolve' | 'source'>,
): string[] {
  const warnings: string[] = [];
  if (config.devKey)
    warnings.push(
      `API_KEYS is not set and the keys file ${config.keysFile ?? '(KEYS_FILE=none)'} lists no key: ` +
        'only the development key "local-only" is accepted, until "npm run keys -- create --name <name>" makes one.',
    );
  const envKeys = config.apiKeys.length + config.privateApiKeys.length;
  const tier = tiers.resolve(config.apiKeysTier);
  if (
    envKeys > 0 &&
    !isLoopbackHost(config.host) &&
    tier.windows.length === 0 &&
    tier.concurrentStreams === undefined
  ) {
    warnings.push(
      `HOST=${config.host} is reachable from other machines ` +
        `and the ${envKeys} key(s) of API_KEYS/PRIVATE_API_KEYS have no rate limit: ` +
        `API_KEYS_TIER=${config.apiKeysTier} limits nothing in ${tiers.source}. ` +
        'For a deployment, make per-client keys with "npm run keys -- create --name <name> --tier standard" ' +
        '(scopes and tiers per key), or set API_KEYS_TIER to a limited tier.',
    );
  }
  return warnings;
}
