import type { FastifyInstance } from 'fastify';
import type { Catalog } from '../../common/catalog.js';
import type { Bus } from '../../common/bus.js';
import { askWorkers } from '../bus/ask-workers.js';
import { memorySplitWarner } from './memory-split.js';
import { judgeReadiness } from './readiness.js';

export interface ReadyRouteOptions {
  bus: Bus;
  catalog: Catalog;
  /** Longest wait for the workers' `$SRV.INFO`. */
  workerInfoTimeoutMs?: number;
}

/**
 * `GET /ready`: can this gateway answer chat requests now? 503 with the reason while NATS is
 * unreachable or the workers cannot be asked; else what the workers' answers say
 * (`judgeReadiness`). No auth, like `/health`: probes seldom carry a token, and nothing here is
 * user data.
 */
export async function readyRoutes(app: FastifyInstance, options: ReadyRouteOptions): Promise<void> {
  const { bus } = options;
  const timeoutMs = options.workerInfoTimeoutMs ?? 500;
  const warnOfMemorySplits = memorySplitWarner(app.log);

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
    const { code, body, memorySplits } = judgeReadiness(infos, stats, options.catalog.agents);
    warnOfMemorySplits(memorySplits);
    return reply.code(code).send(body);
  });
}
