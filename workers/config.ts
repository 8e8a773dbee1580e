import { readEnv, type EnvReader } from '../common/env.js';
import { readNatsClientSettings, type NatsClientSettings } from '../common/nats-client.js';
import {
  readAgentsFile,
  readDataDir,
  readDefaultModel,
  readNatsUrl,
  readSecretPatternsFile,
  readSubjectPrefix,
} from '../common/shared-settings.js';
import { readSpeechSettings, type SpeechSettings } from './speech/settings.js';
import { readAudioSettings, type AudioSettings } from './audio/settings.js';
import { readTranscriptionSettings, type TranscriptionSettings } from './transcription/settings.js';
import { readMemorySettings, type MemorySettings } from './memory/settings.js';
import { CACHE_MODES, type CacheMode } from './cache/cache-policy.js';
import { ADMISSION_DEFAULTS, type AdmissionSettings } from './admission.js';
import { LLAMA_CPP_DEFAULTS, OPENAI_DEFAULTS, PROVIDER_NAMES, type ProviderName } from './providers/index.js';
import { MAX_TOKENS_PARAM_SETTINGS } from './providers/openai/max-tokens-param.js';
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
  /** Where memory lives: SQLite under DATA_DIR, or PostgreSQL (DATABASE_URL, DATABASE_POOL_SIZE). */
  memory: MemorySettings;
  agentsFile: string;
  defaultModel: string | undefined;
  subjectPrefix: string;
  /** How often the providers are probed for `/ready` (0: only at start). */
  backendProbeIntervalMs: number;
  /** How often a probe write checks that the memory database takes writes (0: only at start). */
  memoryProbeIntervalMs: number;
  /** Longest a stopping worker waits for answers in flight. */
  drainTimeoutMs: number;
  /** How long an identical request is answered from the shared response cache; 0 disables it. */
  cacheTtlSeconds: number;
  /** Which requests the response cache serves: only deterministic ones by default. */
  cacheMode: CacheMode;
  /** Backpressure: MAX_INFLIGHT model calls or audio engine runs at once, MAX_QUEUED waiting (QUEUE_TIMEOUT_MS). */
  admission: Readonly<AdmissionSettings>;
  /** The speech engine and encoder of voice agents (ESPEAK_NG_PATH, FFMPEG_PATH). */
  speech: Readonly<SpeechSettings>;
  /** Voice agents' chains of audio engines (SPEECH_PROVIDER, LOCAL_AUDIO_PROVIDERS, OPENAI_AUDIO_*). */
  audio: Readonly<AudioSettings>;
  /** Voice agents' transcription engine, model, decoder and cap (POCKETSPHINX_*, MAX_TRANSCRIPTION_SECONDS). */
  transcription: Readonly<TranscriptionSettings>;
}

/** CACHE_TTL_SECONDS, as the worker reads it (also `npm run bus:setup`, which reads no more than it needs). */
export const readCacheTtlSeconds = (read: EnvReader): number =>
  read.integer('CACHE_TTL_SECONDS', 30, {
    min: 0,
    max: 86_400,
    doc: 'how long an identical request is answered from the shared response cache; `0` disables it',
  });

/** The model backends: PROVIDER and each provider's settings. */
function readProviderSettings(read: EnvReader) {
  return {
    provider: read.oneOf('PROVIDER', 'ollama', {
      allowed: PROVIDER_NAMES,
      doc: 'model backend of agents whose catalog entry lists no `providers` chain',
    }),
    localProviders: Object.freeze(
      read.listOf('LOCAL_PROVIDERS', ['ollama', 'llama-cpp'], {
        allowed: PROVIDER_NAMES,
        doc: 'providers that keep requests on this machine: the only ones for private requests and unmasked secrets',
      }),
    ),
    breakerFailures: read.integer('BREAKER_FAILURES', 3, {
      min: 1,
      max: 100,
      doc:
        'consecutive failures of the backend (before a first token; a request it refused as sent does not ' +
        "count) that open a provider's circuit: it is skipped",
    }),
    breakerCooldownMs: read.integer('BREAKER_COOLDOWN_MS', 30_000, {
      min: 100,
      max: 3_600_000,
      doc: 'how long an open circuit skips its provider before one trial request goes through',
    }),
    ollamaUrl: read.url('OLLAMA_URL', 'http://127.0.0.1:11434', {
      protocols: ['http:', 'https:'],
      doc: '`ollama`: the Ollama server',
    }),
    llamaCpp: Object.freeze({
      modelPath: read.optionalString('LLAMA_CPP_MODEL_PATH', {
        doc: '`llama-cpp`: the GGUF model file to answer with',
      }),
      threads: read.integer('LLAMA_CPP_THREADS', LLAMA_CPP_DEFAULTS.threads, {
        min: 1,
        max: 256,
        doc: '`llama-cpp`: CPU threads per generation; 1 suits small machines, raise it on big ones',
      }),
      parallel: read.integer('LLAMA_CPP_PARALLEL', LLAMA_CPP_DEFAULTS.parallel, {
        min: 1,
        max: 64,
        doc: '`llama-cpp`: generations at once (context sequences); more wait their turn',
      }),
      contextSize: read.integer('LLAMA_CPP_CONTEXT_SIZE', LLAMA_CPP_DEFAULTS.contextSize, {
        min: 128,
        max: 1_048_576,
        doc: "`llama-cpp`: largest context window (the model's training size caps it)",
      }),
      maxTokens: read.integer('LLAMA_CPP_MAX_TOKENS', LLAMA_CPP_DEFAULTS.maxTokens, {
        min: 0,
        max: 1_048_576,
        doc: '`llama-cpp`: `max_tokens` of a request that sets none (finish_reason `length`); `0`: no cap',
      }),
    }),
    openai: Object.freeze({
      baseUrl: read.url('OPENAI_BASE_URL', OPENAI_DEFAULTS.baseUrl, {
        protocols: ['http:', 'https:'],
        doc: '`openai`: the OpenAI-compatible API (vLLM, llama.cpp server, LM Studio, OpenAI), with `/v1`',
      }),
      apiKey: read.optionalString('OPENAI_API_KEY', { doc: '`openai`: its bearer key (local servers take any)' }),
      maxTokensParam: read.oneOf('OPENAI_MAX_TOKENS_PARAM', 'auto', {
        allowed: MAX_TOKENS_PARAM_SETTINGS,
        doc:
          "`openai`: the name a cap goes out under: `as_sent` the client's (`max_completion_tokens` for it or " +
          "`max_output_tokens`, else `max_tokens`), or always one of `max_tokens` (Ollama's `/v1`, LM Studio know " +
          "only it) and `max_completion_tokens` (OpenAI's reasoning models need it); `auto`: `as_sent` for " +
          'api.openai.com, else `max_tokens`',
      }),
    }),
  };
}

/** Backpressure (docs/bus.md, "Backpressure"): model calls at once and the queue before them. */
function readAdmissionSettings(read: EnvReader): Readonly<AdmissionSettings> {
  return Object.freeze({
    maxInflight: read.integer('MAX_INFLIGHT', ADMISSION_DEFAULTS.maxInflight, {
      // Up to tens of thousands: a remote OpenAI-compatible upstream holds that many streams (issue 21's 10k).
      min: 1,
      max: 65_536,
      doc:
        'model calls one worker runs at once, over all its agents (a speech or transcription engine run counts as ' +
        'one); more wait in its queue',
    }),
    maxQueued: read.integer('MAX_QUEUED', ADMISSION_DEFAULTS.maxQueued, {
      min: 0,
      max: 100_000,
      doc: 'requests that may wait for a free model call; one more gets 503 `overloaded` at once',
    }),
    queueTimeoutMs: read.integer('QUEUE_TIMEOUT_MS', ADMISSION_DEFAULTS.queueTimeoutMs, {
      min: 1,
      max: 3_600_000,
      doc: 'longest wait in that queue, then 503 `overloaded`; keep it well below `FIRST_TOKEN_TIMEOUT_MS`',
    }),
  });
}

/**
 * Reads the worker configuration; throws a ConfigError naming every bad variable. `read` is a
 * recording reader when docs/configuration.md is generated.
 */
export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env, read: EnvReader = readEnv(env)): WorkerConfig {
  const natsUrl = readNatsUrl(read);
  const dataDir = readDataDir(read);
  const providerSettings = readProviderSettings(read);
  const speech = readSpeechSettings(read);
  const config: WorkerConfig = {
    natsUrl,
    nats: readNatsClientSettings(read, 'worker', natsUrl),
    ...providerSettings,
    secretPatternsFile: readSecretPatternsFile(read),
    dataDir,
    memory: readMemorySettings(read, dataDir),
    agentsFile: readAgentsFile(read),
    defaultModel: readDefaultModel(read),
    subjectPrefix: readSubjectPrefix(read),
    backendProbeIntervalMs: read.integer('BACKEND_PROBE_INTERVAL_MS', 30_000, {
      min: 0,
      max: 3_600_000,
      doc: 'how often the worker probes its providers for `/ready` and `/metrics`; `0`: only at start',
    }),
    memoryProbeIntervalMs: read.integer('MEMORY_PROBE_INTERVAL_MS', 5_000, {
      min: 0,
      max: 3_600_000,
      doc:
        'how often the worker writes a probe row to check that its memory database takes writes (a full disk, ' +
        'a read-only file); requests are refused with `memory_unavailable` meanwhile; `0`: only at start, and ' +
        'again when a request meets a problem (at most once a second)',
    }),
    drainTimeoutMs: read.integer('DRAIN_TIMEOUT_MS', 30_000, {
      min: 0,
      max: 600_000,
      doc: 'on SIGTERM, how long answers in flight may finish; the rest are aborted (`worker_lost`)',
    }),
    cacheTtlSeconds: readCacheTtlSeconds(read),
    cacheMode: read.oneOf('CACHE_MODE', 'deterministic', {
      allowed: CACHE_MODES,
      doc:
        'which requests the response cache answers: `deterministic` only those with `temperature: 0` or a ' +
        '`seed` (a "Regenerate" at a temperature gets a new answer), `always` every identical request, `off` none',
    }),
    admission: readAdmissionSettings(read),
    speech,
    audio: readAudioSettings(read, providerSettings.openai),
    transcription: readTranscriptionSettings(read, speech.ffmpegPath),
  };
  read.done();
  return Object.freeze(config);
}
