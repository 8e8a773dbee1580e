import type { Catalog } from '../../common/catalog.js';
import type { Logger } from '../../common/logger.js';
import { createRoutingTable, DEFAULT_ROUTING_FILE, loadRoutingTable, type RoutingTable } from './load-routing-table.js';

/**
 * The routing table the gateway uses. A file the user chose (ROUTING_FILE) must fit the catalog,
 * or the gateway refuses to start. The shipped table names the seven default agents: with a
 * custom catalog (AGENTS_FILE) that lacks them, it is replaced by a table that sends "auto" to
 * the catalog's first agent, with a warning, rather than stopping a gateway that never asked for
 * routing.
 */
export function routingTableFor(
  config: { routingFile: string },
  catalog: Catalog,
  log: Pick<Logger, 'warn'>,
): RoutingTable {
  if (config.routingFile !== DEFAULT_ROUTING_FILE) return loadRoutingTable(config.routingFile, catalog);
  try {
    return loadRoutingTable(config.routingFile, catalog);
  } catch (err) {
    // A chat agent: "auto" never routes to an embedding model.
    const fallback = (catalog.agents.find((agent) => agent.kind === 'chat') ?? catalog.agents[0]!).name;
    log.warn(
      { err: (err as Error).message },
      `the shipped routing table does not fit this agent catalog; model "auto" goes to ${fallback}. ` +
        'Write a table for your agents and set ROUTING_FILE (docs/routing.md).',
    );
    return createRoutingTable({ default: fallback, rules: [] }, catalog, 'fallback routing table');
  }
}
