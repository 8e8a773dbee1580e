import { errors, type NatsConnection } from '@nats-io/transport-node';
import { Svcm, type ServiceInfo } from '@nats-io/services';
import type { FastifyInstance } from 'fastify';
import type { Catalog } from '../../common/catalog.js';
import { busStateOf } from '../../common/nats.js';

// The workers' micro service name (workers/agent-service.ts); not imported, so the gateway
// does not load the worker's modules.
const WORKER_SERVICE_NAME = 'agentbus-worker';

export interface ReadyRouteOptions {
  nc: NatsConnection;
  catalog: Catalog;
  /** Longest wait for the workers' `$SRV.INFO`. */
  workerInfoTimeoutMs?: number;
}

/** `$SRV.INFO` of the workers answering within `timeoutMs`; throws only when NATS cannot be asked. */
async function workerInfos(nc: NatsConnection, timeoutMs: number): Promise<ServiceInfo[]> {
  const found: ServiceInfo[] = [];
  // "stall": done once the answers stop coming, so a probe rarely waits the whole timeout.
  const gather = (async () => {
    const client = new Svcm(nc).client({ strategy: 'stall', maxWait: timeoutMs, stall: 100 });
    for await (const info of await client.info(WORKER_SERVICE_NAME)) found.push(info);
  })();
  let timer: NodeJS.Timeout | undefined;
  // The client's own limit should end it; this one holds even if the connection is stuck.
  const deadline = new Promise<void>((resolve) => { timer = setTimeout(resolve, timeoutMs + 100); });
  try {
    await Promise.race([gather, deadline]);
  } catch (err) {
    if (!(err instanceof errors.NoRespondersError || (err instanceof errors.RequestError && err.isNoResponders()))) throw err;
  } finally {
    clearTimeout(timer);
    gather.catch(() => undefined);
  }
  return found;
}

/**
 * `GET /ready`: can this gateway answer chat requests now? 503 with the reason while NATS is
 * unreachable or no worker answers; 200 with the workers per agent otherwise (an agent with 0
 * answers 503 no_worker). `backend` is what the workers advertise in `$SRV.INFO` metadata —
 * the providers they use, by name: whether each is reachable is not reported there (a worker
 * logs its probe at start). No auth, like `/health`: probes seldom carry a token.
 */
export async function readyRoutes(app: FastifyInstance, options: ReadyRouteOptions): Promise<void> {
  // Tracking starts at boot, so an outage before the first request is seen too.
  const bus = busStateOf(options.nc);
  const timeoutMs = options.workerInfoTimeoutMs ?? 500;

  app.get('/ready', { logLevel: 'warn' }, async (_request, reply) => {
    if (!bus.connected) {
      return reply.code(503).send({ status: 'unavailable', nats: 'disconnected', reason: bus.problem ?? 'disconnected from NATS', since: new Date(bus.since).toISOString() });
    }
    let infos: ServiceInfo[];
    try {
      infos = await workerInfos(options.nc, timeoutMs);
    } catch (err) {
      return reply.code(503).send({ status: 'unavailable', nats: 'connected', reason: `cannot ask the workers over NATS: ${(err as Error).message}` });
    }
    const agents: Record<string, number> = Object.fromEntries(options.catalog.names.map((name) => [name, 0]));
    const backend: Record<string, number> = {};
    for (const info of infos) {
      for (const name of new Set(info.endpoints.map((e) => e.metadata?.['agent']).filter((a): a is string => typeof a === 'string'))) agents[name] = (agents[name] ?? 0) + 1;
      for (const provider of (info.metadata?.['provider'] ?? '').split(',').filter(Boolean)) backend[provider] = (backend[provider] ?? 0) + 1;
    }
    const body = { nats: 'connected', workers: infos.length, agents, backend: { workers_per_provider: backend, reachability: 'not reported by workers' } };
    if (infos.length === 0) return reply.code(503).send({ status: 'unavailable', reason: 'no worker answers $SRV.INFO: start one with "npm run worker"', ...body });
    return { status: 'ready', ...body };
  });
}
