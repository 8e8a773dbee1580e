import { DEFAULT_SUBJECT_PREFIX } from '../bus-schemas/index.js';
import { DEFAULT_AGENTS_FILE } from '../common/catalog.js';
import { ConfigError, readEnv, type EnvReader } from '../common/env.js';
import { readNatsClientSettings, type NatsClientSettings } from '../common/nats-client.js';
import { DEFAULT_SECRET_PATTERNS_FILE } from '../common/redaction.js';
import { DEFAULT_ROUTING_FILE } from './routing/load-routing-table.js';
import { DEFAULT_RATE_TIERS_FILE } from './rate-limit/rate-tiers.js';
import { DEFAULT_RATE_LIMIT_BUCKET } from './rate-limit/tenant-store.js';
import { keysFileFromEnv, keysFileHasEntries } from './auth/keys-file.js';
import type { AuditSettings } from './audit/audit-stream.js';
import type { InputLimits } from './openai/input-limits.js';

/** The API key that works when API_KEYS is unset (with a warning), for local use only. */
export const DEV_API_KEY = 'local-only';

/** Gateway settings, read once at boot and frozen. */
export interface GatewayConfig {
  port: number;
  host: string;
  natsUrl: string;
  /** Bus credentials, TLS files and inbox prefix of the gateway user (NATS_USER, NATS_PASSWORD[_FILE], NATS_TLS_*). */
  nats: NatsClientSettings;
  /** API_KEYS as given (the dev key is not among them): every agent, tier `apiKeysTier`. */
  apiKeys: readonly string[];
  /** API_KEYS_TIER: the rate tier of API_KEYS and PRIVATE_API_KEYS (default `unlimited`, for dev use). */
  apiKeysTier: string;
  /**
   * KEYS_FILE (default `<DATA_DIR>/keys.json`; `none`: no file): the keys `npm run keys`
   * manages, reloaded when it changes. A missing file holds no keys.
   */
  keysFile: string | undefined;
  /**
   * True when neither API_KEYS nor the keys file has a key at boot: the dev key is accepted
   * (on loopback only) until the keys file lists one.
   */
  devKey: boolean;
  /** Keys (also accepted) whose every request is private: answered by local providers only. */
  privateApiKeys: readonly string[];
  agentsFile: string;
  defaultModel: string | undefined;
  subjectPrefix: string;
  /** Longest a chat request may take, end to end. */
  requestTimeoutMs: number;
  /** GATEWAY_DRAIN_TIMEOUT_MS: how long a stopping gateway lets open responses and WebSocket requests finish. */
  drainTimeoutMs: number;
  /**
   * Longest wait for an agent's first token before the request is retried (per-agent
   * `timeouts.first_token_ms` overrides). The attempts share REQUEST_TIMEOUT_MS, so the default
   * is a quarter of it: the first try, the retry and the fallback each get a timed chance.
   */
  firstTokenTimeoutMs: number;
  /** The router's rules table for `model: "auto"` (ROUTING_FILE). */
  routingFile: string;
  /** Patterns of secrets redacted from logs and, when found in input, making a request private. */
  secretPatternsFile: string;
  /** A secret found in the input pins the request to local providers. */
  secretsMakePrivate: boolean;
  /** Interval at which workers send heartbeats; three missed ones mean a dead worker. */
  heartbeatMs: number;
  bodyLimitBytes: number;
  /** MAX_HEADER_BYTES: Node's maxHeaderSize, the request line and headers together (431 above it). */
  maxHeaderBytes: number;
  /** Bounds on a chat request's messages, tools and JSON nesting (README "Input limits"). */
  inputLimits: Readonly<InputLimits>;
  /** Directory of the per-agent trace logs (`<agent>.log`). */
  logDir: string;
  /** Rotated trace logs older than this many days are deleted; 0 keeps all. */
  traceLogRetentionDays: number;
  /** Longest prompt written to a trace line; 0 writes none. */
  tracePromptMaxChars: number;
  /** WebSocket: requests one socket may have in flight at once. */
  wsMaxInflight: number;
  /** WebSocket: time a socket without an Authorization header has to send its `auth` frame. */
  wsAuthTimeoutMs: number;
  /** WebSocket: unsent bytes a socket may queue before its reader counts as stuck and is dropped. */
  wsMaxBufferedBytes: number;
  /** WebSocket: interval of protocol pings; a socket that misses one pong is dropped. */
  wsPingIntervalMs: number;
  /** WebSocket: browser origins besides the gateway's own that may connect (`*` for any). */
  wsAllowedOrigins: readonly string[];
  /** Browser origins that may call the HTTP API cross-origin (CORS); empty: none (the playground is same-origin). */
  corsOrigins: readonly string[];
  /** RATE_TIERS_FILE: each tier's requests per minute/hour/day and concurrent streams. */
  rateTiersFile: string;
  /** RATE_LIMIT_BUCKET: the JetStream KV bucket every replica keeps the limits' state in. */
  rateLimitBucket: string;
  /** RATE_LIMIT_TIMEOUT_MS: longest one KV call of the limiter may take before the request goes through unlimited. */
  rateLimitTimeoutMs: number;
  /**
   * The JetStream audit stream of chat request envelopes (AUDIT, AUDIT_MAX_AGE_SECONDS,
   * AUDIT_MAX_BYTES), set up at boot by `gateway/audit/audit-stream.ts`.
   */
  audit: Readonly<AuditSettings>;
}

/** True for addresses only this machine can reach: 127.0.0.0/8, ::1, localhost. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return bare === 'localhost' || bare === '::1' || /^127(\.\d{1,3}){3}$/.test(bare) || bare === '::ffff:127.0.0.1';
}

/** SUBJECT_PREFIX, as the gateway reads it (also `npm run bus:setup`, which reads no more than it needs). */
export const readSubjectPrefix = (read: EnvReader): string => read.string('SUBJECT_PREFIX', DEFAULT_SUBJECT_PREFIX);

/** RATE_LIMIT_BUCKET, as the gateway reads it (also `npm run bus:setup`). */
export const readRateLimitBucket = (read: EnvReader): string =>
  read.string('RATE_LIMIT_BUCKET', DEFAULT_RATE_LIMIT_BUCKET);

/** AUDIT, AUDIT_MAX_AGE_SECONDS, AUDIT_MAX_BYTES, as the gateway reads them (also `npm run bus:setup`). */
export function readAuditSettings(read: EnvReader): Readonly<AuditSettings> {
  return Object.freeze({
    // On by default. The stream records copies on the audit subjects, not the chat subjects:
    // there it would count as a responder and hide NATS's instant "no responders" (503 no_worker).
    enabled: read.oneOf('AUDIT', 'on', ['on', 'off']) === 'on',
    maxAgeSeconds: read.integer('AUDIT_MAX_AGE_SECONDS', 7 * 24 * 3600, { min: 1, max: 10 * 365 * 24 * 3600 }),
    // Half the bundled nats.conf's max_file_store: JetStream reserves it, and the response cache needs room too.
    maxBytes: read.integer('AUDIT_MAX_BYTES', 512 * 1024 * 1024, { min: 1024 * 1024, max: 1024 ** 4 }),
  });
}

export function loadGatewayConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const read = readEnv(env);
  const apiKeys = read.list('API_KEYS');
  const privateApiKeys = read.list('PRIVATE_API_KEYS');
  const keysFile = keysFileFromEnv(read);
  const config: GatewayConfig = {
    port: read.integer('PORT', 8080, { min: 0, max: 65535 }),
    host: read.string('HOST', '127.0.0.1'),
    natsUrl: read.string('NATS_URL', 'nats://127.0.0.1:4222'),
    nats: readNatsClientSettings(read, 'gateway', read.string('NATS_URL', 'nats://127.0.0.1:4222')),
    apiKeys: Object.freeze(apiKeys),
    // Unlimited by default: API_KEYS is for development and tests, which a limit would only slow.
    apiKeysTier: read.string('API_KEYS_TIER', 'unlimited'),
    keysFile,
    privateApiKeys: Object.freeze(privateApiKeys),
    devKey: apiKeys.length === 0 && (keysFile === undefined || !keysFileHasEntries(keysFile)),
    agentsFile: read.string('AGENTS_FILE', DEFAULT_AGENTS_FILE),
    defaultModel: read.optionalString('DEFAULT_MODEL'),
    subjectPrefix: readSubjectPrefix(read),
    requestTimeoutMs: read.integer('REQUEST_TIMEOUT_MS', 120_000, { min: 100, max: 3_600_000 }),
    drainTimeoutMs: read.integer('GATEWAY_DRAIN_TIMEOUT_MS', 10_000, { min: 0, max: 3_600_000 }),
    firstTokenTimeoutMs: read.integer('FIRST_TOKEN_TIMEOUT_MS', 30_000, { min: 100, max: 3_600_000 }),
    routingFile: read.string('ROUTING_FILE', DEFAULT_ROUTING_FILE),
    secretPatternsFile: read.string('SECRET_PATTERNS_FILE', DEFAULT_SECRET_PATTERNS_FILE),
    secretsMakePrivate: read.oneOf('SECRETS_MAKE_PRIVATE', 'true', ['true', 'false']) === 'true',
    heartbeatMs: read.integer('HEARTBEAT_MS', 2_000, { min: 50, max: 60_000 }),
    bodyLimitBytes: read.integer('BODY_LIMIT_BYTES', 1024 * 1024, { min: 1024, max: 64 * 1024 * 1024 }),
    maxHeaderBytes: read.integer('MAX_HEADER_BYTES', 16 * 1024, { min: 1024, max: 1024 * 1024 }),
    inputLimits: Object.freeze({
      maxMessages: read.integer('MAX_MESSAGES', 1000, { min: 1, max: 100_000 }),
      maxMessageChars: read.integer('MAX_MESSAGE_CHARS', 200_000, { min: 1, max: 64 * 1024 * 1024 }),
      // Deep enough for real tool schemas (a body, tools, a tool, its parameters, then nested properties).
      maxJsonDepth: read.integer('MAX_JSON_DEPTH', 32, { min: 4, max: 1000 }),
      // At most the bus envelope's own bound (bus-schemas/chat-request.schema.ts): workers would refuse more.
      maxTools: read.integer('MAX_TOOLS', 128, { min: 0, max: 128 }),
      maxToolSchemaBytes: read.integer('MAX_TOOL_SCHEMA_BYTES', 64 * 1024, { min: 256, max: 64 * 1024 * 1024 }),
    }),
    logDir: read.string('LOG_DIR', './logs'),
    traceLogRetentionDays: read.integer('TRACE_LOG_RETENTION_DAYS', 14, { min: 0, max: 3650 }),
    tracePromptMaxChars: read.integer('TRACE_PROMPT_MAX_CHARS', 500, { min: 0, max: 1_000_000 }),
    wsMaxInflight: read.integer('WS_MAX_INFLIGHT', 8, { min: 1, max: 1000 }),
    wsAuthTimeoutMs: read.integer('WS_AUTH_TIMEOUT_MS', 5_000, { min: 50, max: 300_000 }),
    wsMaxBufferedBytes: read.integer('WS_MAX_BUFFERED_BYTES', 1024 * 1024, { min: 1024, max: 1024 * 1024 * 1024 }),
    wsPingIntervalMs: read.integer('WS_PING_INTERVAL_MS', 30_000, { min: 100, max: 3_600_000 }),
    wsAllowedOrigins: Object.freeze(read.list('WS_ALLOWED_ORIGINS')),
    corsOrigins: Object.freeze(read.list('CORS_ORIGINS')),
    rateTiersFile: read.string('RATE_TIERS_FILE', DEFAULT_RATE_TIERS_FILE),
    rateLimitBucket: readRateLimitBucket(read),
    rateLimitTimeoutMs: read.integer('RATE_LIMIT_TIMEOUT_MS', 500, { min: 10, max: 60_000 }),
    audit: readAuditSettings(read),
  };
  read.done();
  // The dev key is public (it is in the README): it may only open a gateway nobody else can reach.
  if (config.devKey && !isLoopbackHost(config.host)) {
    throw new ConfigError([
      `HOST=${JSON.stringify(config.host)} is reachable from other machines, and API_KEYS is not set${config.keysFile === undefined ? '' : ` and the keys file ${config.keysFile} (KEYS_FILE) lists no key`}: the development key "local-only" works only on a loopback address. Create keys with "npm run keys -- create --name <name>" (the production path: per-key scopes and rate tiers) or set API_KEYS (comma-separated keys; for development: they are unlimited unless API_KEYS_TIER says otherwise) to listen on ${config.host}, or leave HOST at 127.0.0.1.`,
    ]);
  }
  return Object.freeze(config);
}
