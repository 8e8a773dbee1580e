import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import { buildApp } from '../../gateway/app.js';
import { loadGatewayConfig, type GatewayConfig } from '../../gateway/config.js';
import { connectBus, type Bus } from '../../common/bus.js';
import { loadCatalog, type Catalog } from '../../common/catalog.js';
import { createLogger, type Logger } from '../../common/logger.js';
import { openMigratedMemory } from '../../workers/memory/open.js';
import type { MemoryDatabase } from '../../workers/memory/schema.js';
import { loadRedactor } from '../../common/redaction.js';
import { loadWorkerConfig } from '../../workers/config.js';
import type { ProviderChains } from '../../workers/providers/chain.js';
import { createProvider, PROVIDER_NAMES, type ChatProvider, type ProviderName } from '../../workers/providers/index.js';
import { startWorker } from '../../workers/worker.js';
import { providerChainsFromConfig, providerSettingsOf } from '../../workers/provider-chains-from-config.js';
import { audioChainsFromConfig } from '../../workers/audio/from-config.js';
import { watchBackends, type BackendHealth } from '../../workers/backend-health.js';
import type { RunningAgentService } from '../../workers/agent-service.js';
import { startFakeOllama, type FakeOllama } from './fake-ollama.js';
import { startTestNats } from './nats.js';
import { settledReads } from './settled-db.js';

/** JSON log lines captured as objects, so tests assert on fields (pino's test helper habit). */
export class LogSink extends Writable {
  readonly lines: Array<Record<string, unknown>> = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) if (line) this.lines.push(JSON.parse(line));
    done();
  }
}

export interface TestStack {
  natsUrl: string;
  /** The gateway's bus (tests also observe and publish through it). */
  bus: Bus;
  /** The in-process workers' bus. */
  workerBus: Bus;
  ollama: FakeOllama;
  dataDir: string;
  /** Memory, for the test's own reads: each query waits for pending turns to settle (settled-db.ts). */
  db: Kysely<MemoryDatabase>;
  /** The same database as the workers use it, without that wait. */
  workerDb: Kysely<MemoryDatabase>;
  catalog: Catalog;
  config: GatewayConfig;
  app: FastifyInstance;
  /** Base URL of the listening gateway, e.g. http://127.0.0.1:41234 */
  baseUrl: string;
  workers: RunningAgentService[];
  logs: LogSink;
  env: Record<string, string>;
  /** Starts one more in-process worker on the same NATS and database. */
  addWorker(agents?: string[]): Promise<RunningAgentService>;
  close(): Promise<void>;
}

export interface StackOptions {
  /**
   * Extra environment, read by the gateway (REQUEST_TIMEOUT_MS, HEARTBEAT_MS, API_KEYS, …) and
   * by the in-process workers as workers/main.ts reads it (PROVIDER, OPENAI_BASE_URL,
   * LOCAL_PROVIDERS, BREAKER_FAILURES, BREAKER_COOLDOWN_MS, SECRET_PATTERNS_FILE, MAX_INFLIGHT, …).
   */
  env?: Record<string, string>;
  /** Agents served by the in-process worker; false for none. Default: all. */
  workerAgents?: string[] | false;
  /** nats-server config file for the test's own server (e.g. a small max_payload). */
  natsConfigFile?: string;
  /** Models the fake Ollama has (default llama3.2), and those of them that take images. */
  ollamaModels?: string[];
  visionModels?: string[];
  /**
   * The workers' default model backend (PROVIDER) instead of Ollama, used wherever a chain
   * names its provider; the fake Ollama still starts.
   */
  provider?: ChatProvider;
  /** Memory on this PostgreSQL (DATABASE_URL) instead of SQLite in the temp DATA_DIR. */
  databaseUrl?: string;
  /** Where the gateway listens (default 127.0.0.1), e.g. 0.0.0.0 to be reached from another address. */
  listenHost?: string;
}

/**
 * The provider chains of one in-process worker, set up from `env` as workers/main.ts does:
 * its own breakers, and `provider` (when given) as PROVIDER and as the instance of its name.
 */
export function testProviderChains(env: Record<string, string>, log: Logger, provider?: ChatProvider): ProviderChains {
  const config = loadWorkerConfig(env);
  const given = provider && PROVIDER_NAMES.find((name) => name === provider.name);
  if (provider && !given)
    throw new Error(`test provider "${provider.name}" is not one of ${PROVIDER_NAMES.join(', ')}`);
  const settings = providerSettingsOf(config);
  // The given provider replaces its registry entry and answers by default.
  return providerChainsFromConfig(
    { ...config, provider: given ?? config.provider },
    loadRedactor(config.secretPatternsFile),
    log,
    (name: ProviderName) => (provider && name === given ? provider : createProvider(name, settings)),
  );
}

/**
 * Gateway + worker + real nats-server + real SQLite (or the PostgreSQL of `databaseUrl`) + fake
 * Ollama, torn down by `close()`.
 */
export async function startStack(options: StackOptions = {}): Promise<TestStack> {
  const nats = await startTestNats(options.natsConfigFile);
  const ollama = await startFakeOllama(options.ollamaModels, { visionModels: options.visionModels ?? [] });
  const dataDir = mkdtempSync(join(tmpdir(), 'agentbus-data-'));
  const logs = new LogSink();
  const log: Logger = createLogger('test', { level: 'debug', destination: logs });
  // The response cache is off unless a test turns it on: most tests count backend calls.
  const env: Record<string, string> = {
    NATS_URL: nats.url,
    OLLAMA_URL: ollama.url,
    DATA_DIR: dataDir,
    PORT: '0',
    HEARTBEAT_MS: '200',
    CACHE_TTL_SECONDS: '0',
    LOG_DIR: join(dataDir, 'logs'),
    ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : {}),
    ...options.env,
  };
  const config = loadGatewayConfig(env);
  const catalog = loadCatalog(config.agentsFile, config.defaultModel ?? 'llama3.2');
  const { db, at: memoryAt } = await openMigratedMemory(loadWorkerConfig(env).memory);
  // Made as the gateway and worker processes make theirs.
  const bus = await connectBus({ url: nats.url, role: 'gateway', name: 'test-gateway', log });
  const workerBus = await connectBus({ url: nats.url, role: 'worker', name: 'test-worker', log });
  const workers: RunningAgentService[] = [];
  const probes: BackendHealth[] = [];
  const addWorker = async (names?: string[]) => {
    const agents = names ? catalog.agents.filter((a) => names.includes(a.name)) : catalog.agents;
    const workerLog = log.child({ worker: workers.length });
    const providers = testProviderChains(env, workerLog, options.provider);
    const workerConfig = loadWorkerConfig(env);
    // Probed only when a test asks (BACKEND_PROBE_INTERVAL_MS): probes would add backend calls to other tests' counts.
    const backendHealth = env['BACKEND_PROBE_INTERVAL_MS']
      ? watchBackends(providers, agents, workerConfig.backendProbeIntervalMs, workerLog)
      : undefined;
    if (backendHealth) {
      await backendHealth.probeNow();
      probes.push(backendHealth);
    }
    const worker = await startWorker({
      bus: workerBus,
      db,
      memoryAt,
      providers,
      agents,
      subjectPrefix: config.subjectPrefix,
      cacheTtlSeconds: Number(env['CACHE_TTL_SECONDS']),
      admission: workerConfig.admission,
      audio: audioChainsFromConfig(workerConfig, loadRedactor(workerConfig.secretPatternsFile), workerLog),
      transcription: workerConfig.transcription,
      backendHealth,
      log: workerLog,
    });
    workers.push(worker);
    return worker;
  };
  if (options.workerAgents !== false) await addWorker(options.workerAgents);
  const app = await buildApp({ config, bus, catalog, logger: log });
  await app.listen({ port: 0, host: options.listenHost ?? '127.0.0.1' });
  const baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

  return {
    natsUrl: nats.url,
    bus,
    workerBus,
    ollama,
    dataDir,
    db: settledReads(db),
    workerDb: db,
    catalog,
    config,
    app,
    baseUrl,
    workers,
    logs,
    env,
    addWorker,
    async close() {
      await app.close();
      for (const probe of probes) probe.stop();
      for (const worker of workers) await worker.stop(1000);
      await workerBus.drain(2000);
      await bus.drain(2000);
      await db.destroy();
      await ollama.close();
      await nats.dispose();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Headers of an authorized JSON request with the dev key. */
export const AUTH = { authorization: 'Bearer local-only', 'content-type': 'application/json' };

export interface SideLane {
  app: FastifyInstance;
  /** Base URL of the lane's listening gateway. */
  baseUrl: string;
  close(): Promise<void>;
}

/**
 * A second gateway + worker pair on the stack's NATS and database but on its own subject
 * prefix, so only its worker answers its gateway: for a backend or catalog unlike the stack's.
 */
export async function startSideLane(
  stack: TestStack,
  // `env`: more settings for the lane's gateway and worker.
  options: { prefix: string; ollamaUrl?: string; defaultModel?: string; env?: Record<string, string> },
): Promise<SideLane> {
  const log = createLogger('lane', { level: 'debug', destination: stack.logs });
  const bus = await connectBus({ url: stack.natsUrl, role: 'gateway', name: 'test-lane', log });
  const catalog = loadCatalog(stack.config.agentsFile, options.defaultModel ?? 'llama3.2');
  const env = { ...stack.env, ...(options.ollamaUrl ? { OLLAMA_URL: options.ollamaUrl } : {}), ...options.env };
  const providers = testProviderChains(env, log);
  const worker = await startWorker({
    bus,
    db: stack.workerDb,
    providers,
    agents: catalog.agents,
    subjectPrefix: options.prefix,
    cacheTtlSeconds: Number(stack.env['CACHE_TTL_SECONDS']),
    log,
  });
  const app = await buildApp({
    config: loadGatewayConfig({ ...stack.env, ...options.env, SUBJECT_PREFIX: options.prefix }),
    bus,
    catalog,
    logger: log,
  });
  const baseUrl = await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    app,
    baseUrl,
    async close() {
      await app.close();
      await worker.stop(1000);
      await bus.drain(2000);
    },
  };
}

/**
 * How many entries the response cache's stream holds. A worker writes an answer there once its turn
 * is committed, on the gateway's receipt, which is after the client had the answer: a test waits
 * for the count to grow before it expects the next identical request to hit.
 */
export async function responseCacheEntries(stack: Pick<TestStack, 'bus'>): Promise<number> {
  const kv = await stack.bus.request('$JS.API.STREAM.INFO.KV_agentbus_responses', new Uint8Array(), {
    timeoutMs: 5000,
  });
  return Number(
    (JSON.parse(new TextDecoder().decode(kv.data)) as { state?: { messages?: number } }).state?.messages ?? 0,
  );
}

/** A chat with the `documentation` agent under the test key; in the conversation `session` when given. */
export async function chatTurn(baseUrl: string, content: string, session?: string) {
  const res = await fetch(`${baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: session ? { ...AUTH, 'x-session-id': session } : AUTH,
    body: JSON.stringify({ model: 'documentation', messages: [{ role: 'user', content }] }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

/**
 * A question and its follow-up in one conversation on `stack`; `prompt` is what the model was
 * given for the follow-up after the system message (the first turn, then the follow-up, when
 * memory works).
 */
export async function twoTurnConversation(stack: Pick<TestStack, 'baseUrl' | 'ollama'>) {
  stack.ollama.behave({ tokens: ['Paris', '.'] });
  const first = await chatTurn(stack.baseUrl, 'Capital of France?');
  stack.ollama.behave({ tokens: ['About', ' 2M'] });
  const second = await chatTurn(stack.baseUrl, 'Population?', first.body['conversation_id']);
  const prompt = stack.ollama.requests
    .at(-1)!
    .messages.slice(1)
    .map((m) => m.content);
  return { first, second, prompt };
}
