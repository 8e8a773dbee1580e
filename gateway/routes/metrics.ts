import type { FastifyInstance } from 'fastify';
import type { Bus } from '../../common/bus.js';
import type { GatewayMetrics } from '../metrics/gateway-metrics.js';
import { createWorkerStatsGauges } from '../metrics/worker-stats.js';
import { fromHttpError } from '../http/errors.js';

export interface MetricsRouteOptions {
  bus: Bus;
  /** The app's metrics; its `calls` listener is handed to the chat pipeline too (app.ts). */
  metrics: GatewayMetrics;
  /** Longest wait for the workers' `$SRV.STATS` during a scrape. */
  workerStatsTimeoutMs?: number;
}

/**
 * `GET /metrics` in the Prometheus text format, from a registry of this app's own. Without
 * auth, like `/health`: scrapers seldom carry a bearer token, and the series hold counts,
 * durations, agent names and worker ids — no prompts, answers, sessions or keys.
 *
 * Registered without encapsulation (like fastify-plugin), so its hooks see every route.
 */
async function metricsPlugin(app: FastifyInstance, options: MetricsRouteOptions): Promise<void> {
  const { metrics } = options;
  const workerStats = createWorkerStatsGauges(metrics.registry);
  const timeoutMs = options.workerStatsTimeoutMs ?? 500;

  app.addHook('onError', async (_request, reply, error) => {
    // Once a chat call started (its traceparent is on the reply), the call's observer counts its error.
    if (reply.getHeader('traceparent') === undefined) metrics.refused(fromHttpError(error).code);
  });
  app.addHook('onResponse', async (request, reply) => {
    metrics.httpResponse(request.routeOptions.url ?? 'unmatched', request.method, reply.statusCode);
  });

  // Scrapes come every few seconds: only their problems are worth a log line.
  app.get('/metrics', { logLevel: 'warn' }, async (_request, reply) => {
    await workerStats.refresh(options.bus, timeoutMs);
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}

// fastify's marker for "do not encapsulate" (what fastify-plugin sets).
Object.assign(metricsPlugin, { [Symbol.for('skip-override')]: true });

export const metricsRoutes = metricsPlugin;
