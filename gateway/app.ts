import cors from '@fastify/cors';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { subjectsFor } from '../bus-schemas/index.js';
import type { Bus } from '../common/bus.js';
import type { Catalog } from '../common/catalog.js';
import type { Logger } from '../common/logger.js';
import type { GatewayConfig } from './config.js';
import { ensureAuditStream } from './audit/audit-stream.js';
import { bearerAuth } from './auth/bearer-auth.js';
import { createKeyStore } from './auth/key-store.js';
import type { Caller } from './auth/caller.js';
import { DEV_API_KEY } from './config.js';
import { errorShapeOptions, registerErrorHandling } from './http/errors.js';
import { createGatewayRateLimiter } from './rate-limit/gateway-rate-limiter.js';
import { corsOptions } from './http/cors-options.js';
import { registerJsonParser } from './http/parse-json.js';
import { registerContentDecoding } from './http/content-encoding.js';
import { continueWhenAdmittedOnEveryRoute } from './http/continue-when-admitted.js';
import { refuseWhileClosing } from './http/refuse-while-closing.js';
import { refuseUnknownHosts } from './http/host-allow-list.js';
import { trackUnusedConnections } from './http/close-unused-connections.js';
import { OneLinePerRequest } from './http/request-log.js';
import { nameEveryRequest, newHttpRequestId } from './http/request-id.js';
import { agentScopedRoutes } from './routes/agent-scope.js';
import { completionsRoutes } from './openai/completion-routes.js';
import { embeddingsRoutes } from './openai/embedding-routes.js';
import { speechRoutes } from './openai/speech-routes.js';
import { transcriptionRoutes } from './openai/transcription-routes.js';
import { chatCompletionsRoutes } from './openai/routes.js';
import { responsesRoutes } from './openai/responses-routes.js';
import { storedCompletionsRoutes } from './openai/stored-completions-routes.js';
import { storedResponsesRoutes } from './openai/stored-responses-routes.js';
import { unknownV1Routes } from './routes/unknown-v1.js';
import { legacyRoutes } from './legacy/routes.js';
import { createTraceLog } from './trace-log/trace-log.js';
import { loadRedactor } from '../common/redaction.js';
import { createClassifier } from './router/classifier.js';
import { routingTableFor } from './router/table-for-catalog.js';
import { createRouter } from './router/router.js';
import { healthRoutes } from './routes/health.js';
import { readyRoutes } from './routes/ready.js';
import { memoryRoutes } from './routes/memory.js';
import { metricsRoutes } from './routes/metrics.js';
import { createGatewayMetrics } from './metrics/gateway-metrics.js';
import type { ChatDeps } from './chat/types.js';
import { modelsRoutes } from './routes/models.js';
import { playgroundRoutes } from './routes/playground.js';
import { registerWebsocketSupport, websocketRoutes } from './websocket/routes.js';
import { OpenCalls } from './call/open-calls.js';
import { silenceLimitOf } from './call/bus-call.js';
import { WorkerBeats } from './call/worker-beats.js';
import { EmbedWidths } from './embeddings/embed-widths.js';

/** How long a closing gateway waits for its open calls' trace lines before closing the log. */
const TRACE_LOG_CLOSE_WAIT_MS = 500;
/** fastify's own pluginTimeout, the least the gateway sets. */
const FASTIFY_PLUGIN_TIMEOUT_MS = 10_000;
/** What the WebSocket drain's preClose hook may take beyond GATEWAY_DRAIN_TIMEOUT_MS. */
const DRAIN_HOOK_SLACK_MS = 5_000;

export interface GatewayDeps {
  config: GatewayConfig;
  bus: Bus;
  catalog: Catalog;
  logger: Logger;
  /** How many times `npm start` restarted this gateway (AGENTBUS_RESTARTS), for `/metrics`. */
  restarts?: number;
}

/**
 * Builds the gateway without listening: `server.ts` listens, tests use `inject()` or
 * `listen({ port: 0 })`. The bus belongs to the caller.
 */
export async function buildApp(deps: GatewayDeps): Promise<FastifyInstance> {
  const { config, bus, catalog } = deps;
  const app = Fastify({
    // The cast picks fastify's base logger type for the app's generics (pino's is wider).
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: config.bodyLimitBytes,
    // Node's HTTP parser refuses longer request heads (431 headers_too_large, see error-handler.ts).
    // Node checks the receive timeout on an interval (30 s by default): a short timeout checks sooner.
    http: {
      maxHeaderSize: config.maxHeaderBytes,
      connectionsCheckingInterval: Math.min(30_000, Math.max(250, config.requestReceiveTimeoutMs / 4)),
      // Node's 60 s for the head, never longer than the whole request may take.
      headersTimeout: Math.min(60_000, config.requestReceiveTimeoutMs),
      // Node answers an HTTP/1.1 request without Host itself, with an empty 400: host-allow-list.ts does.
      requireHostHeader: false,
    },
    // fastify's default (0) turns Node's off: a body that never ends held its socket forever.
    requestTimeout: config.requestReceiveTimeoutMs,
    // OpenAI's wire format is strict JSON: "0.5" is not a temperature, and unknown fields stay.
    // `verbose` gives error messages the failing schema, so they can quote its description.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false, verbose: true } },
    logController: new OneLinePerRequest(),
    genReqId: newHttpRequestId,
    // refuse-while-closing.ts answers requests during a drain in the OpenAI shape instead.
    return503OnClosing: false,
    // fastify bounds each preClose hook by this, the WebSocket drain's too (websocket/routes.ts),
    // which waits up to GATEWAY_DRAIN_TIMEOUT_MS: shorter, app.close() rejected mid-drain.
    pluginTimeout: Math.max(FASTIFY_PLUGIN_TIMEOUT_MS, config.drainTimeoutMs + DRAIN_HOOK_SLACK_MS),
    ...errorShapeOptions,
  });
  registerErrorHandling(app);
  // First of the hooks: a refusal by any later one (host, auth, rate limit) carries the id too.
  nameEveryRequest(app);
  refuseUnknownHosts(app, config);
  refuseWhileClosing(app);
  // Before any route: each gets a last preParsing hook that sends the 100 Continue once admitted.
  continueWhenAdmittedOnEveryRoute(app);
  // A connection that never sent a request would otherwise hold app.close() until its client leaves.
  const unused = trackUnusedConnections(app.server);
  app.addHook('preClose', async () => unused.closeUnused());
  // Off unless CORS_ORIGINS names origins: the playground is served from the gateway itself, and
  // a browser page elsewhere must not spend a user's key without the operator saying so.
  if (config.corsOrigins.length > 0) {
    await app.register(cors, corsOptions(config.corsOrigins));
  }
  // Before any route: the first request is recorded too. Never fails the boot (one warning).
  await ensureAuditStream({
    bus,
    subjectPrefix: config.subjectPrefix,
    settings: config.audit,
    log: deps.logger.child({ component: 'audit' }),
  });
  const metrics = createGatewayMetrics({ restarts: deps.restarts ?? 0 });
  await app.register(metricsRoutes, { bus, metrics }); // first, so its hooks count every route
  const sessions = await registerWebsocketSupport(app, {
    maxPayloadBytes: config.bodyLimitBytes,
    drainTimeoutMs: config.drainTimeoutMs,
  });
  // Only JSON bodies: a text/plain body gets 415 rather than a confusing "body must be object".
  app.removeContentTypeParser('text/plain');
  // fastify's JSON parser with the nesting limit checked first (MAX_JSON_DEPTH).
  registerJsonParser(app, config.inputLimits.maxJsonDepth);
  // A gzip, deflate or br body is decoded before that parser reads it, within BODY_LIMIT_BYTES.
  registerContentDecoding(app);
  app.decorateRequest('tenant', '');
  // Set by bearerAuth on every route that needs a key; null until then (fastify's decorator rule).
  app.decorateRequest('caller', null as unknown as Caller);
  app.decorateRequest('pathAgent', undefined);
  app.decorateRequest('earlyAdmission', undefined);

  const traceLog = createTraceLog({
    dir: config.logDir,
    retentionDays: config.traceLogRetentionDays,
    promptMaxChars: config.tracePromptMaxChars,
    logger: deps.logger.child({ component: 'trace' }),
  });
  // Calls cut at the drain timeout end as their connections close, just before this hook: their
  // trace lines come a turn later (observe.ts), so the log waits for them, briefly.
  const calls = new OpenCalls(metrics.calls);
  app.addHook('onClose', async () => {
    await calls.idle(TRACE_LOG_CLOSE_WAIT_MS);
    await traceLog.close();
  });
  const subjects = subjectsFor(config.subjectPrefix);
  const workerBeats = new WorkerBeats(bus, {
    silenceMs: silenceLimitOf(config.heartbeatMs),
    subjects,
    agents: catalog.agents.map((agent) => agent.name),
    log: deps.logger.child({ component: 'beats' }),
    onWait: (agent) => metrics.unreadWait(agent),
  });
  app.addHook('onClose', async () => workerBeats.close());
  // Both files are checked here, at boot: a typo must stop the gateway, not a request later.
  const redactor = loadRedactor(config.secretPatternsFile);
  const router = createRouter({
    table: routingTableFor(config, catalog, deps.logger),
    catalog,
    // The classifier's calls store nothing, so they run under the gateway's own tenant id.
    classify: createClassifier({
      bus,
      subjects,
      tenant: 'agentbus-router',
      heartbeatMs: config.heartbeatMs,
      beats: workerBeats,
    }),
    log: deps.logger.child({ component: 'router' }),
    redact: (text) => redactor.redact(text),
  });
  // Read here, at boot, like the other files: a broken keys file stops the gateway, naming KEYS_FILE.
  const keys = createKeyStore({
    keysFile: config.keysFile,
    apiKeys: config.apiKeys,
    privateApiKeys: config.privateApiKeys,
    envTier: config.apiKeysTier,
    devKey: config.devKey ? DEV_API_KEY : undefined,
    log: deps.logger.child({ component: 'keys' }),
  });
  app.addHook('onClose', async () => keys.close());
  const rateLimiter = await createGatewayRateLimiter(config, bus, deps.logger.child({ component: 'rate-limit' }));
  const chatDeps: ChatDeps = {
    bus,
    catalog,
    config,
    subjects,
    traceLog,
    router,
    redactor,
    keys,
    rateLimiter,
    calls,
    workerBeats,
    embedWidths: new EmbedWidths(),
  };

  await app.register(healthRoutes);
  await app.register(readyRoutes, { bus, catalog });
  await app.register(playgroundRoutes, { keys });
  // Outside the authed context: a browser authenticates with its first frame, not a header.
  await app.register(websocketRoutes, { ...chatDeps, sessions });
  await app.register(async (authed) => {
    authed.addHook('onRequest', bearerAuth(keys));
    await authed.register(modelsRoutes, { catalog });
    await authed.register(chatCompletionsRoutes, { ...chatDeps, perAgent: false });
    await authed.register(responsesRoutes, { ...chatDeps, perAgent: false });
    await authed.register(storedResponsesRoutes, { bus, subjects });
    await authed.register(storedCompletionsRoutes, { bus, subjects });
    await authed.register(completionsRoutes, { ...chatDeps, perAgent: false });
    await authed.register(embeddingsRoutes, { ...chatDeps, perAgent: false });
    await authed.register(speechRoutes, { ...chatDeps, perAgent: false });
    await authed.register(transcriptionRoutes, { ...chatDeps, perAgent: false });
    await authed.register(legacyRoutes, chatDeps);
    await authed.register(memoryRoutes, { bus, subjects });
    await authed.register(unknownV1Routes);
  });
  await app.register(agentScopedRoutes, { chat: chatDeps, prefix: '/agents/:agent' });
  return app;
}
