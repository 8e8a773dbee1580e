import type { ServiceStats } from '@nats-io/services';
import type { FastifyInstance } from 'fastify';
import type { Catalog } from '../../common/catalog.js';
import type { Bus } from '../../common/bus.js';
import { askWorkers } from '../bus/ask-workers.js';

export interface ReadyRouteOptions {
  bus: Bus;
  catalog: Catalog;
  /** Longest wait for the workers' `$SRV.INFO`. */
  workerInfoTimeoutMs?: number;
}

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

/** Workers whose memory database refuses writes, with why (their probe write failed). */
function memoryProblems(stats: readonly ServiceStats[]): string[] {
  return stats.flatMap((worker) => {
    const problem = (worker.endpoints ?? []).map(dataOf).find((data) => data.memory_problem)?.memory_problem;
    return problem === undefined ? [] : [`worker ${worker.id} cannot write its memory (${problem})`];
  });
}

/** Agents served only by workers on which every provider's circuit is open. */
function agentsWithoutProvider(stats: readonly ServiceStats[]): string[] {
  const byAgent = new Map<string, { served: number; blocked: number; why: string }>();
  for (const worker of stats) {
    for (const endpoint of worker.endpoints ?? []) {
      const data = dataOf(endpoint);
      if (data.providers_available === undefined) continue;
      const seen = byAgent.get(endpoint.name) ?? { served: 0, blocked: 0, why: '' };
      seen.served++;
      if (data.providers_available === 0) {
        seen.blocked++;
        seen.why = data.unavailable ?? 'circuit open';
      }
      byAgent.set(endpoint.name, seen);
    }
  }
  return [...byAgent]
    .filter(([, seen]) => seen.served > 0 && seen.blocked === seen.served)
    .map(([agent, seen]) => `agent ${agent}: every provider's circuit is open on every worker (${seen.why})`);
}

/**
 * `GET /ready`: can this gateway answer chat requests now? 503 with the reason while NATS is
 * unreachable or no worker answers; 200 with the workers per agent otherwise (an agent with 0
 * answers 503 no_worker). `backend` counts, per provider, the workers that reach it and those
 * that do not; 503 when workers report providers and none reaches any, when a worker cannot
 * write its memory, or when every provider of an agent has its circuit open. No auth, like
 * `/health`: probes seldom carry a token, and nothing here is user data.
 */
export async function readyRoutes(app: FastifyInstance, options: ReadyRouteOptions): Promise<void> {
  const { bus } = options;
  const timeoutMs = options.workerInfoTimeoutMs ?? 500;

  app.get('/ready', { logLevel: 'warn' }, async (_request, reply) => {
    if (!bus.connected) {
      return reply.code(503).send({
        status: 'unavailable',
        nats: 'disconnected',
        reason: bus.problem ?? 'disconnected from NATS',
        since: new Date(bus.since).toISOString(),
      });
    }
    const asked = { timeoutMs, stallMs: 100 };
    const [{ found: infos, error: infoError }, { found: stats, error: statsError }] = await Promise.all([
      askWorkers(bus, 'info', asked),
      askWorkers(bus, 'stats', asked),
    ]);
    const error = infoError ?? statsError;
    if (error)
      return reply.code(503).send({
        status: 'unavailable',
        nats: 'connected',
        reason: `cannot ask the workers over NATS: ${error.message}`,
      });
    const agents: Record<string, number> = Object.fromEntries(options.catalog.names.map((name) => [name, 0]));
    for (const info of infos) {
      for (const name of new Set(
        info.endpoints.map((e) => e.metadata?.['agent']).filter((a): a is string => typeof a === 'string'),
      ))
        agents[name] = (agents[name] ?? 0) + 1;
    }
    const backend = backendsOf(stats);
    const body = { nats: 'connected', workers: infos.length, agents, backend };
    if (infos.length === 0)
      return reply.code(503).send({
        status: 'unavailable',
        reason: 'no worker answers $SRV.INFO: start one with "npm run worker"',
        ...body,
      });
    const providers = Object.entries(backend);
    if (providers.length > 0 && providers.every(([, seen]) => seen.reachable === 0)) {
      return reply.code(503).send({
        status: 'unavailable',
        reason:
          `no worker reaches its model backend (${providers.map(([name]) => name).join(', ')}); ` +
          "see the workers' logs",
        ...body,
      });
    }
    // A worker that cannot keep what it answers, or an agent whose every provider is known to be
    // failing, answers requests with errors: not ready, and why.
    const problems = [...memoryProblems(stats), ...agentsWithoutProvider(stats)];
    if (problems.length > 0)
      return reply.code(503).send({ status: 'unavailable', reason: problems.join('; '), ...body });
    return { status: 'ready', ...body };
  });
}
