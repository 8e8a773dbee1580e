import { DEFAULT_SUBJECT_PREFIX } from '../bus-schemas/index.js';
import { DEFAULT_AGENTS_FILE } from '../common/catalog.js';
import { readEnv, type EnvReader } from '../common/env.js';
import { readNatsClientSettings, type NatsClientSettings } from '../common/nats-client.js';
import { DEFAULT_SECRET_PATTERNS_FILE } from '../common/redaction.js';
import { ADMISSION_DEFAULTS, type AdmissionSettings } from './admission.js';
import { LLAMA_CPP_DEFAULTS, OPENAI_DEFAULTS, PROVIDER_NAMES, type ProviderName } from './providers/index.js';
import type { LlamaCppSettings } from './providers/llama-cpp/index.js';
import type { OpenAISettings } from './providers/openai/index.js';

/** Worker settings, read once at boot and frozen. */
export interface WorkerConfig {
  natsUrl: string;
  /** Bus credentials, TLS files and inbox prefix of the worker user (NATS_USER, NATS_PASSWORD[_FILE], NATS_TLS_*). */
  nats: NatsClientSettings;
  /** The model backend of agents whose catalog entry lists no provider chain (PROVIDER). */
  provider: ProviderName;
  /** Providers that keep requests on this machine: the only ones a private request may use. */
  localProviders: readonly ProviderName[];
  /** Consecutive failures before a provider's circuit opens. */
  breakerFailures: number;
  /** How long an open circuit skips its provider before one trial request. */
  breakerCooldownMs: number;
  /** Patterns of secrets masked before a non-local provider sees a request. */
  secretPatternsFile: string;
  ollamaUrl: string;
  llamaCpp: LlamaCppSettings;
  openai: OpenAISettings;
  dataDir: string;
  agentsFile: string;
  defaultModel: string | undefined;
  subjectPrefix: string;
  /** How often the providers are probed for `/ready` (0: only at start). */
  backendProbeIntervalMs: number;
  /** Longest a stopping worker waits for answers in flight. */
  drainTimeoutMs: number;
  /** How long an identical request is answered from the shared response cache; 0 disables it. */
  cacheTtlSeconds: number;
  /** Backpressure: MAX_INFLIGHT model calls at once, MAX_QUEUED waiting up to QUEUE_TIMEOUT_MS. */
  admission: Readonly<AdmissionSettings>;
}

/** CACHE_TTL_SECONDS, as the worker reads it (also `npm run bus:setup`, which reads no more than it needs). */
export const readCacheTtlSeconds = (read: EnvReader): number =>
  read.integer('CACHE_TTL_SECONDS', 30, { min: 0, max: 86_400 });

/** Reads the worker configuration; throws a ConfigError naming every bad variable. */
export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const read = readEnv(env);
  const config: WorkerConfig = {
    natsUrl: read.string('NATS_URL', 'nats://127.0.0.1:4222'),
    nats: readNatsClientSettings(read, 'worker', read.string('NATS_URL', 'nats://127.0.0.1:4222')),
    provider: read.oneOf('PROVIDER', 'ollama', PROVIDER_NAMES),
    localProviders: Object.freeze(read.listOf('LOCAL_PROVIDERS', ['ollama', 'llama-cpp'], PROVIDER_NAMES)),
    breakerFailures: read.integer('BREAKER_FAILURES', 3, { min: 1, max: 100 }),
    breakerCooldownMs: read.integer('BREAKER_COOLDOWN_MS', 30_000, { min: 100, max: 3_600_000 }),
    secretPatternsFile: read.string('SECRET_PATTERNS_FILE', DEFAULT_SECRET_PATTERNS_FILE),
    ollamaUrl: read.url('OLLAMA_URL', 'http://127.0.0.1:11434', ['http:', 'https:']),
    llamaCpp: Object.freeze({
      modelPath: read.optionalString('LLAMA_CPP_MODEL_PATH'),
      threads: read.integer('LLAMA_CPP_THREADS', LLAMA_CPP_DEFAULTS.threads, { min: 1, max: 256 }),
      parallel: read.integer('LLAMA_CPP_PARALLEL', LLAMA_CPP_DEFAULTS.parallel, { min: 1, max: 64 }),
      contextSize: read.integer('LLAMA_CPP_CONTEXT_SIZE', LLAMA_CPP_DEFAULTS.contextSize, { min: 128, max: 1_048_576 }),
    }),
    openai: Object.freeze({
      baseUrl: read.url('OPENAI_BASE_URL', OPENAI_DEFAULTS.baseUrl, ['http:', 'https:']),
      apiKey: read.optionalString('OPENAI_API_KEY'),
    }),
    dataDir: read.string('DATA_DIR', './data'),
    agentsFile: read.string('AGENTS_FILE', DEFAULT_AGENTS_FILE),
    defaultModel: read.optionalString('DEFAULT_MODEL'),
    subjectPrefix: read.string('SUBJECT_PREFIX', DEFAULT_SUBJECT_PREFIX),
    backendProbeIntervalMs: read.integer('BACKEND_PROBE_INTERVAL_MS', 30_000, { min: 0, max: 3_600_000 }),
    drainTimeoutMs: read.integer('DRAIN_TIMEOUT_MS', 30_000, { min: 0, max: 600_000 }),
    cacheTtlSeconds: readCacheTtlSeconds(read),
    admission: Object.freeze({
      maxInflight: read.integer('MAX_INFLIGHT', ADMISSION_DEFAULTS.maxInflight, { min: 1, max: 1024 }),
      maxQueued: read.integer('MAX_QUEUED', ADMISSION_DEFAULTS.maxQueued, { min: 0, max: 10_000 }),
      queueTimeoutMs: read.integer('QUEUE_TIMEOUT_MS', ADMISSION_DEFAULTS.queueTimeoutMs, { min: 1, max: 3_600_000 }),
    }),
  };
  read.done();
  return Object.freeze(config);
}
