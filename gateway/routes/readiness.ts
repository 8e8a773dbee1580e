import type { ServiceInfo, ServiceStats } from '@nats-io/services';
import type { Agent } from '../../common/catalog.js';
import { describeMemorySplit, findMemorySplits, type MemorySplit } from './memory-split.js';

/**
 * Per provider, how many workers found it answering (with its models) at their last probe and
 * how many did not: each worker's `$SRV.STATS` carries `backend: {<provider>: 1 | 0}` on its
 * agent endpoints (workers/backend-health.ts, every BACKEND_PROBE_INTERVAL_MS).
 */
function backendsOf(stats: readonly ServiceStats[]): Record<string, { reachable: number; unreachable: number }> {
  const out: Record<string, { reachable: number; unreachable: number }> = {};
  for (const worker of stats) {
    const reported =
      worker.endpoints
        ?.map((e) => (e.data as { backend?: Record<string, number> } | null)?.backend)
        .find((b) => b !== undefined) ?? {};
    for (const [provider, ok] of Object.entries(reported)) {
      const seen = (out[provider] ??= { reachable: 0, unreachable: 0 });
      if (ok === 1) seen.reachable++;
      else seen.unreachable++;
    }
  }
  return out;
}

type EndpointData = { memory_problem?: string; unavailable?: string; providers_available?: number };

const dataOf = (endpoint: { data?: unknown }): EndpointData =>
  endpoint.data !== null && typeof endpoint.data === 'object' ? endpoint.data : {};

/** Why a worker's memory database refuses writes (its probe write failed); undefined when it takes them. */
const memoryProblemOf = (worker: ServiceStats): string | undefined =>
  (worker.endpoints ?? []).map(dataOf).find((data) => data.memory_problem)?.memory_problem;

/** Workers whose memory database refuses writes, with why. */
function memoryProblems(stats: readonly ServiceStats[]): string[] {
  return stats.flatMap((worker) => {
    const problem = memoryProblemOf(worker);
    return problem === undefined ? [] : [`worker ${worker.id} cannot write its memory (${problem})`];
  });
}

/** Per endpoint (an agent, its speech or its transcription): its workers, and those that can answer now. */
interface EndpointHealth {
  served: number;
  /** Workers with a provider outside an open circuit and a memory that takes writes. */
  usable: number;
  /** Workers on which every provider's circuit is open. */
  blocked: number;
  /** The last blocked worker's reason. */
  why: string;
}

/**
 * `withoutMemory`: endpoints that answer without the memory database (embedding agents). An
 * endpoint that reports no `providers_available` (a worker older than that field) counts as usable.
 */
function endpointHealth(
  stats: readonly ServiceStats[],
  withoutMemory: ReadonlySet<string>,
): Map<string, EndpointHealth> {
  const byEndpoint = new Map<string, EndpointHealth>();
  for (const worker of stats) {
    const memoryOk = memoryProblemOf(worker) === undefined;
    for (const endpoint of worker.endpoints ?? []) {
      const data = dataOf(endpoint);
      const seen = byEndpoint.get(endpoint.name) ?? { served: 0, usable: 0, blocked: 0, why: '' };
      seen.served++;
      if (data.providers_available === 0) {
        seen.blocked++;
        seen.why = data.unavailable ?? 'circuit open';
      } else if (memoryOk || withoutMemory.has(endpoint.name)) seen.usable++;
      byEndpoint.set(endpoint.name, seen);
    }
  }
  return byEndpoint;
}

/** Endpoints served only by workers on which every provider's circuit is open. */
const withoutProvider = (health: Map<string, EndpointHealth>): string[] =>
  [...health]
    .filter(([, seen]) => seen.blocked === seen.served)
    .map(([agent, seen]) => `agent ${agent}: every provider's circuit is open on every worker (${seen.why})`);

/** What `/ready` answers, and with which status code. */
export interface Readiness {
  code: 200 | 503;
  body: Record<string, unknown> & { status: 'ready' | 'degraded' | 'unavailable' };
  /** Workers that must share a memory database and do not (in `reason` too), for the route to log. */
  memorySplits: MemorySplit[];
}

const unavailable = (body: Record<string, unknown>, memorySplits: MemorySplit[]): Readiness => ({
  code: 503,
  body: { status: 'unavailable', ...body },
  memorySplits,
});

/**
 * Judges readiness from the workers' `$SRV.INFO` and `$SRV.STATS` answers (`catalogAgents`: the
 * catalog's). 503 when no worker answers, when workers report providers and none reaches any,
 * or when no agent can be answered; 200 `degraded` with the reason while some agent can.
 */
export function judgeReadiness(
  infos: readonly ServiceInfo[],
  stats: readonly ServiceStats[],
  catalogAgents: readonly Pick<Agent, 'name' | 'kind'>[],
): Readiness {
  const agentNames = catalogAgents.map((agent) => agent.name);
  const agents: Record<string, number> = Object.fromEntries(agentNames.map((name) => [name, 0]));
  for (const info of infos) {
    for (const name of new Set(
      info.endpoints.map((e) => e.metadata?.['agent']).filter((a): a is string => typeof a === 'string'),
    ))
      agents[name] = (agents[name] ?? 0) + 1;
  }
  const backend = backendsOf(stats);
  const body = { nats: 'connected', workers: infos.length, agents, backend };
  const memorySplits = findMemorySplits(infos);
  if (infos.length === 0)
    return unavailable(
      {
        reason: 'no worker answers $SRV.INFO: start one with "npm run worker"',
        ...body,
      },
      memorySplits,
    );
  const providers = Object.entries(backend);
  if (providers.length > 0 && providers.every(([, seen]) => seen.reachable === 0)) {
    return unavailable(
      {
        reason:
          `no worker reaches its model backend (${providers.map(([name]) => name).join(', ')}); ` +
          "see the workers' logs",
        ...body,
      },
      memorySplits,
    );
  }
  // A worker that cannot keep what it answers, or an agent whose every provider is known to be
  // failing, answers requests with errors. Every gateway sees the same workers, so a 503 for one
  // agent's trouble would take all of them out of the balancer, and every agent with them: not
  // ready only when no agent can be answered; "degraded", and why, while some still can. Workers
  // of one agent on different memory databases answer too, but lose conversations at random.
  const embedding = new Set(catalogAgents.filter((a) => a.kind === 'embedding').map((a) => a.name));
  const health = endpointHealth(stats, embedding);
  const problems = [...memoryProblems(stats), ...withoutProvider(health), ...memorySplits.map(describeMemorySplit)];
  if (problems.length > 0) {
    const answerable = agentNames.some((name) => (health.get(name)?.usable ?? 0) > 0);
    const status = answerable ? 'degraded' : 'unavailable';
    return { code: answerable ? 200 : 503, body: { status, reason: problems.join('; '), ...body }, memorySplits };
  }
  return { code: 200, body: { status: 'ready', ...body }, memorySplits };
}
