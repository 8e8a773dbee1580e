import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CallListener, CallSummary } from '../call/observe.js';

/** The gateway's own series in one registry of its own (never prom-client's global one). */
export interface GatewayMetrics {
  readonly registry: Registry;
  /** Feeds the per-agent series from the call pipeline's observation (call/observe.ts). */
  readonly calls: CallListener;
  /** One HTTP response, by route pattern (never the raw URL: unbounded label values). */
  httpResponse(route: string, method: string, status: number): void;
  /** A request refused before any agent was asked (bad body, unknown model, bad key…). */
  refused(code: string): void;
  /** A call waited on past its silence limit: unread, while the agent's workers beat. */
  unreadWait(agent: string): void;
}

// Chat answers take from milliseconds (a cache hit) to minutes (a long generation).
const DURATION_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const FIRST_TOKEN_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * Creates the gateway's registry: process metrics (prefix `agentbus_gateway_`) and the
 * `agentbus_*` series of chat calls and HTTP responses. Agent labels come from the catalog's
 * names only (an unknown model is refused before a call starts), so their number stays bounded.
 */
export function createGatewayMetrics(options: { restarts?: number } = {}): GatewayMetrics {
  const registry = new Registry();
  // prom-client's event-loop monitor samples every 10 ms, which wakes an idle gateway a hundred
  // times a second; a coarser rate would not do: Node records each whole interval between samples,
  // so the lag percentiles would read that interval, and alerts set on them would fire.
  collectDefaultMetrics({ register: registry, prefix: 'agentbus_gateway_' });
  const registers = [registry];

  const requests = new Counter({
    name: 'agentbus_requests_total',
    help:
      'Chat calls per agent (each part of a fan-out counts for its agent), ' +
      "by HTTP status: 200, the error's status, 499 when the client left.",
    labelNames: ['agent', 'status'],
    registers,
  });
  const duration = new Histogram({
    name: 'agentbus_request_duration_seconds',
    help: 'Duration of chat calls per agent, from publishing to the last frame.',
    labelNames: ['agent'],
    buckets: DURATION_BUCKETS,
    registers,
  });
  const firstToken = new Histogram({
    name: 'agentbus_time_to_first_token_seconds',
    help: 'Time from publishing a chat call to its first token, per agent.',
    labelNames: ['agent'],
    buckets: FIRST_TOKEN_BUCKETS,
    registers,
  });
  const tokensIn = new Counter({
    name: 'agentbus_tokens_in_total',
    help: "Prompt tokens of finished chat calls (done frames' usage), per agent.",
    labelNames: ['agent'],
    registers,
  });
  const tokensOut = new Counter({
    name: 'agentbus_tokens_out_total',
    help: "Completion tokens of finished chat calls (done frames' usage), per agent.",
    labelNames: ['agent'],
    registers,
  });
  const cacheHits = new Counter({
    name: 'agentbus_cache_hits_total',
    help: 'Chat calls answered from the response cache, per agent.',
    labelNames: ['agent'],
    registers,
  });
  const inFlight = new Gauge({
    name: 'agentbus_in_flight_requests',
    help: 'Chat calls currently open (being relayed to a client).',
    registers,
  });
  const errors = new Counter({
    name: 'agentbus_errors_total',
    help: 'Errors by code: chat calls that ended in one, and requests refused before any call.',
    labelNames: ['code'],
    registers,
  });
  // Set once: each gateway process is a new one, so only the supervisor's count shows a crash loop.
  new Gauge({
    name: 'agentbus_process_restarts',
    help: 'Times npm start restarted this process after it crashed (AGENTBUS_RESTARTS).',
    labelNames: ['process'],
    registers,
  }).set({ process: 'gateway' }, options.restarts ?? 0);
  const unreadWaits = new Counter({
    name: 'agentbus_unread_waits_total',
    help:
      'Silence limits a chat call waited past because no worker had read it yet while every worker ' +
      'of its agent beat: the workers are falling behind a burst.',
    labelNames: ['agent'],
    registers,
  });
  const http = new Counter({
    name: 'agentbus_http_requests_total',
    help: 'HTTP responses by route pattern, method and status.',
    labelNames: ['route', 'method', 'status'],
    registers,
  });

  const ended = (summary: CallSummary) => {
    const agent = summary.agent;
    inFlight.dec();
    requests.inc({ agent, status: String(summary.status) });
    duration.observe({ agent }, summary.durationMs / 1000);
    if (summary.firstTokenMs !== undefined) firstToken.observe({ agent }, summary.firstTokenMs / 1000);
    if (summary.usage) {
      tokensIn.inc({ agent }, summary.usage.promptTokens);
      tokensOut.inc({ agent }, summary.usage.completionTokens);
    }
    if (summary.cached && summary.status === 200) cacheHits.inc({ agent });
    if (summary.errorCode) errors.inc({ code: summary.errorCode });
  };

  return {
    registry,
    calls: { opened: () => inFlight.inc(), ended },
    httpResponse: (route, method, status) => http.inc({ route, method, status: String(status) }),
    refused: (code) => errors.inc({ code }),
    unreadWait: (agent) => unreadWaits.inc({ agent }),
  };
}
