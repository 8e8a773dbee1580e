import type { ServiceInfo } from '@nats-io/services';
import type { FastifyBaseLogger } from 'fastify';

/** Workers that must share one memory database and report different ones. */
export interface MemorySplit {
  /** The agent whose workers differ; undefined for the memory queries, which any worker answers. */
  agent: string | undefined;
  /** Worker ids by the memory database id each reported, both sorted. */
  databases: ReadonlyArray<readonly [database: string, workers: readonly string[]]>;
}

const FIX = 'give every worker the same DATA_DIR or DATABASE_URL';

/**
 * Which workers answer the same requests from different memory databases, from the `memory` of
 * their `$SRV.INFO` metadata (workers/memory/identity.ts). A queue group hands each request to
 * any of its workers, so a conversation continued on a worker with another database is not found
 * there (`session_not_found` at random). Grouped by subject, which holds SUBJECT_PREFIX: two
 * deployments on one NATS may keep their own databases. Embedding agents keep no memory; a worker
 * that reports no id (older, or its database unreadable) is left out.
 */
export function findMemorySplits(infos: readonly ServiceInfo[]): MemorySplit[] {
  type Group = { agent: string | undefined; databases: Map<string, string[]> };
  const groups = new Map<string, Group>();
  for (const info of infos) {
    const database = info.metadata?.['memory'];
    if (typeof database !== 'string') continue;
    for (const endpoint of info.endpoints) {
      const agent = endpoint.metadata?.['agent'];
      const sharing = endpoint.metadata?.['kind'] !== 'embedding' && typeof agent === 'string';
      // One of the three memory endpoints stands for the queue group they share.
      if (!sharing && endpoint.metadata?.['query'] !== 'memory.last') continue;
      const group: Group = groups.get(endpoint.subject) ?? {
        agent: sharing ? agent : undefined,
        databases: new Map<string, string[]>(),
      };
      groups.set(endpoint.subject, group);
      group.databases.set(database, [...(group.databases.get(database) ?? []), info.id]);
    }
  }
  const splits = [...groups.values()]
    .filter((group) => group.databases.size > 1)
    .map(({ agent, databases }) => ({
      agent,
      databases: [...databases].sort(([a], [b]) => a.localeCompare(b)).map(([id, ws]) => [id, ws.sort()] as const),
    }));
  // Workers of one agent that differ also differ on the memory queries: naming the agent says it.
  return splits.some((split) => split.agent !== undefined)
    ? splits.filter((split) => split.agent !== undefined)
    : splits;
}

/** The split as `/ready` names it, with the fix. */
export function describeMemorySplit(split: MemorySplit): string {
  const where = split.databases
    .map(([id, workers]) => `database ${id} on worker${workers.length > 1 ? 's' : ''} ${workers.join(', ')}`)
    .join(' and ');
  return split.agent === undefined
    ? `workers answer memory queries (stored responses, receipts) from different memory databases: ${where}; ${FIX}`
    : `workers of agent ${split.agent} use different memory databases: ${where}; ${FIX}`;
}

/** Same agent, same databases: the same split, whichever workers restarted meanwhile. */
const keyOf = (split: MemorySplit): string => `${split.agent ?? ''}:${split.databases.map(([id]) => id).join(',')}`;

/**
 * Logs each split once as a warning (`/ready` is polled: one line per poll would bury the rest),
 * and again if it comes back after it was mended.
 */
export function memorySplitWarner(log: Pick<FastifyBaseLogger, 'warn'>): (splits: readonly MemorySplit[]) => void {
  let warned = new Set<string>();
  return (splits) => {
    const now = new Set<string>();
    for (const split of splits) {
      const key = keyOf(split);
      now.add(key);
      if (!warned.has(key))
        log.warn(
          { reason: describeMemorySplit(split) },
          'workers use different memory databases: conversations will miss their turns at random',
        );
    }
    warned = now;
  };
}
