import type { Agent } from '../common/catalog.js';
import type { Logger } from '../common/logger.js';
import type { ProviderChains } from './providers/chain.js';
import type { ProbeResult, ProviderName } from './providers/index.js';

/** A probe of one provider, with where it is. */
export type BackendProbe = ProbeResult & { name: ProviderName; url: string };

/** Whether each provider the worker's agents use answered its last probe. */
export interface BackendHealth {
  /** 1 (answered, with every model) or 0 per provider probed so far: numbers, so `/metrics` shows them. */
  snapshot(): Record<string, number>;
  /** Probes every provider now, logs each result, and updates the snapshot. */
  probeNow(): Promise<BackendProbe[]>;
  stop(): void;
}

/**
 * Probes the providers of the agents' chains at start and every `intervalMs`, so `$SRV.STATS`
 * (and through it the gateway's `/ready` and `/metrics`) says whether the model backend answers
 * now — not only at the worker's start. A failing probe is logged once per change, not per round.
 */
export function watchBackends(
  providers: ProviderChains,
  agents: readonly Agent[],
  intervalMs: number,
  log: Logger,
): BackendHealth {
  const models = new Map<ProviderName, Set<string>>();
  for (const link of agents.flatMap((agent) => providers.linksOf(agent)))
    models.set(link.provider, (models.get(link.provider) ?? new Set()).add(link.model));
  const state = new Map<string, number>();

  async function probeOne(name: ProviderName, wanted: Set<string>): Promise<BackendProbe> {
    const provider = providers.provider(name);
    const probe = await provider
      .probe([...wanted])
      .catch((err: unknown): ProbeResult => ({ reachable: false, missingModels: [], error: (err as Error).message }));
    const ok = probe.reachable && probe.missingModels.length === 0 ? 1 : 0;
    const changed = state.get(name) !== ok;
    state.set(name, ok);
    const at = { provider: name, url: provider.endpoint };
    if (changed && !probe.reachable) log.warn(at, probe.error);
    else if (changed && probe.missingModels.length > 0)
      log.warn(
        { ...at, missing: probe.missingModels },
        `${name} at ${provider.endpoint} lacks models` +
          `${name === 'ollama' ? ': run "ollama pull <model>" for each' : ''}`,
      );
    else if (changed) log.info({ ...at, version: probe.version }, `${name} at ${provider.endpoint} answers`);
    return { name, url: provider.endpoint, ...probe };
  }
  const probeNow = () => Promise.all([...models].map(([name, wanted]) => probeOne(name, wanted)));
  const timer =
    intervalMs > 0
      ? setInterval(() => {
          // probeOne reports each provider's outcome itself.
          probeNow().catch(() => undefined);
        }, intervalMs)
      : undefined;
  // The timer must not keep a stopping worker alive.
  timer?.unref();
  return {
    snapshot: () => Object.fromEntries(state),
    probeNow,
    stop: () => clearInterval(timer),
  };
}
