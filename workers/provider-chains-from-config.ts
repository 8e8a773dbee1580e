import type { Logger } from '../common/logger.js';
import type { Redactor } from '../common/redaction.js';
import type { WorkerConfig } from './config.js';
import { createProviderChains, type ProviderChains } from './providers/chain.js';
import { createProvider, type ChatProvider, type ProviderName, type ProviderSettings } from './providers/index.js';

/** What each provider reads of the worker's configuration. */
export function providerSettingsOf(config: WorkerConfig): ProviderSettings {
  return { ollamaUrl: config.ollamaUrl, llamaCpp: config.llamaCpp, openai: config.openai };
}

/**
 * The worker's provider chains as its configuration describes them (PROVIDER, LOCAL_PROVIDERS,
 * BREAKER_*). `make` builds a provider by name; by default from the registry with the
 * configured settings.
 */
export function providerChainsFromConfig(
  config: WorkerConfig,
  redactor: Redactor,
  log: Logger,
  make?: (name: ProviderName) => ChatProvider,
): ProviderChains {
  const settings = providerSettingsOf(config);
  return createProviderChains(
    {
      createProvider: make ?? ((name) => createProvider(name, settings)),
      defaultProvider: config.provider,
      localProviders: config.localProviders,
      breakers: { failures: config.breakerFailures, cooldownMs: config.breakerCooldownMs },
      redactor,
    },
    log,
  );
}
