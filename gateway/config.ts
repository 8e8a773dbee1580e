import { ConfigError, readEnv, type EnvReader } from '../common/env.js';
import { readNatsClientSettings, type NatsClientSettings } from '../common/nats-client.js';
import {
  readAgentsFile,
  readDefaultModel,
  readNatsUrl,
  readSecretPatternsFile,
  readSubjectPrefix,
} from '../common/shared-settings.js';
import { DEFAULT_ROUTING_FILE } from './router/load-routing-table.js';
import { DEFAULT_RATE_TIERS_FILE } from './rate-limit/rate-tiers.js';
import { DEFAULT_RATE_LIMIT_BUCKET } from './rate-limit/tenant-store.js';
import { STORE_DOWN_POLICIES, type StoreDownPolicy } from './rate-limit/store-down.js';
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
  /** EMBEDDINGS_BODY_LIMIT_BYTES: the body limit of the embeddings routes, whose batches outgrow BODY_LIMIT_BYTES. */
  embeddingsBodyLimitBytes: number;
  /** MAX_AUDIO_UPLOAD_BYTES: the largest `file` of `/v1/audio/transcriptions` (413 above it). */
  maxAudioUploadBytes: number;
  /** MAX_HEADER_BYTES: Node's maxHeaderSize, the request line and headers together (431 above it). */
  maxHeaderBytes: number;
  /** REQUEST_RECEIVE_TIMEOUT_MS: Node's requestTimeout, the time to send the whole request (408 after it). */
  requestReceiveTimeoutMs: number;
  /** Bounds on a chat request's messages, tools and JSON nesting (docs/security.md, "Input limits"). */
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
  /** ALLOWED_HOSTS: `Host` names answered besides loopback ones and HOST (`*`: any); others get 403. */
  allowedHosts: readonly string[];
  /** Browser origins that may call the HTTP API cross-origin (CORS); empty: none (the playground is same-origin). */
  corsOrigins: readonly string[];
  /** RATE_TIERS_FILE: each tier's requests per minute/hour/day and concurrent streams. */
  rateTiersFile: string;
  /** RATE_LIMIT_BUCKET: the JetStream KV bucket every replica keeps the limits' state in. */
  rateLimitBucket: string;
  /** RATE_LIMIT_TIMEOUT_MS: longest one KV call of the limiter may take (event-loop stalls not counted). */
  rateLimitTimeoutMs: number;
  /** RATE_LIMIT_STORE_DOWN: a limited key's request while the store does not answer: refused or unlimited. */
  rateLimitStoreDown: StoreDownPolicy;
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

/** RATE_LIMIT_BUCKET, as the gateway reads it (also `npm run bus:setup`). */
export const readRateLimitBucket = (read: EnvReader): string =>
  read.string('RATE_LIMIT_BUCKET', DEFAULT_RATE_LIMIT_BUCKET, {
    doc: 'JetStream KV bucket of the rate limits, shared by every gateway replica (`nats.conf` grants this name)',
  });

/** RATE_TIERS_FILE, as the gateway reads it (also `npm run keys`, which checks `--tier` against it). */
export const readRateTiersFile = (read: EnvReader): string =>
  read.string('RATE_TIERS_FILE', DEFAULT_RATE_TIERS_FILE, {
    doc: 'the rate tiers: requests per minute/hour/day and concurrent streams per key',
  });

/** AUDIT, AUDIT_MAX_AGE_SECONDS, AUDIT_MAX_BYTES, as the gateway reads them (also `npm run bus:setup`). */
export function readAuditSettings(read: EnvReader): Readonly<AuditSettings> {
  return Object.freeze({
    // On by default. The stream records copies on the audit subjects, not the chat subjects:
    // there it would count as a responder and hide NATS's instant "no responders" (503 no_worker).
    enabled:
      read.oneOf('AUDIT', 'on', {
        allowed: ['on', 'off'],
        doc:
          'record every chat and embeddings request envelope in the JetStream stream `AGENTBUS_AUDIT`, ' +
          'for `npm run replay`',
      }) === 'on',
    maxAgeSeconds: read.integer('AUDIT_MAX_AGE_SECONDS', 7 * 24 * 3600, {
      min: 1,
      max: 10 * 365 * 24 * 3600,
      doc: 'audit: envelopes older than this are dropped (7 days)',
    }),
    // Half the bundled nats.conf's max_file_store: JetStream reserves it, and the response cache needs room too.
    maxBytes: read.integer('AUDIT_MAX_BYTES', 512 * 1024 * 1024, {
      min: 1024 * 1024,
      max: 1024 ** 4,
      doc: 'audit: the oldest envelopes go to stay under this (512 MiB); keep it below `max_file_store`',
    }),
  });
}

/** Bounds on a chat request (docs/security.md, "Input limits"); each has its own error code. */
function readInputLimits(read: EnvReader): Readonly<InputLimits> {
  return Object.freeze({
    maxMessages: read.integer('MAX_MESSAGES', 1000, {
      min: 1,
      max: 100_000,
      doc: 'messages in one request (400 `too_many_messages`)',
    }),
    maxMessageChars: read.integer('MAX_MESSAGE_CHARS', 200_000, {
      min: 1,
      max: 64 * 1024 * 1024,
      doc: 'characters of one message, text parts and tool-call arguments summed (400 `message_too_long`)',
    }),
    maxInputChars: read.integer('MAX_INPUT_CHARS', 1_000_000, {
      min: 1,
      max: 256 * 1024 * 1024,
      doc:
        "characters of all of a request's messages together: what one stored turn keeps of the input " +
        '(413 `request_too_large`)',
    }),
    // Deep enough for real tool schemas (a body, tools, a tool, its parameters, then nested properties).
    maxJsonDepth: read.integer('MAX_JSON_DEPTH', 32, {
      min: 4,
      max: 1000,
      doc: 'nesting of objects/arrays in a body or WebSocket frame (400 `json_too_deep`)',
    }),
    // At most the bus envelope's own bound (bus-schemas/chat-request.schema.ts): workers would refuse more.
    maxTools: read.integer('MAX_TOOLS', 128, {
      min: 0,
      max: 128,
      doc: 'tool definitions in one request (400 `too_many_tools`)',
    }),
    maxToolSchemaBytes: read.integer('MAX_TOOL_SCHEMA_BYTES', 64 * 1024, {
      min: 256,
      max: 64 * 1024 * 1024,
      doc: 'bytes of one tool definition, and of `response_format`, as JSON (400 `tool_schema_too_large`)',
    }),
  });
}

/** The WebSocket endpoint's limits and origins (docs/websocket.md). */
function readWebSocketSettings(read: EnvReader) {
  return {
    wsMaxInflight: read.integer('WS_MAX_INFLIGHT', 8, {
      min: 1,
      max: 1000,
      doc: 'WebSocket: requests one socket may have in flight (one more: `too_many_concurrent_requests`)',
    }),
    wsAuthTimeoutMs: read.integer('WS_AUTH_TIMEOUT_MS', 5_000, {
      min: 50,
      max: 300_000,
      doc: 'WebSocket: time a socket without an `Authorization` header has to send `auth` (then close 4408)',
    }),
    wsMaxBufferedBytes: read.integer('WS_MAX_BUFFERED_BYTES', 1024 * 1024, {
      min: 1024,
      max: 1024 * 1024 * 1024,
      doc: 'WebSocket: unsent bytes a client may fall behind before it is dropped (close 4008)',
    }),
    wsPingIntervalMs: read.integer('WS_PING_INTERVAL_MS', 30_000, {
      min: 100,
      max: 3_600_000,
      doc: 'WebSocket: protocol ping interval; a peer that misses one pong is dropped',
    }),
    wsAllowedOrigins: Object.freeze(
      read.list('WS_ALLOWED_ORIGINS', {
        doc: "WebSocket: browser origins besides the gateway's own that may connect (`*`: any); others get 403",
      }),
    ),
  };
}

/** The settings of the trace logs (docs/operations.md, "Trace logs"). */
function readTraceLogSettings(read: EnvReader) {
  return {
    logDir: read.string('LOG_DIR', './logs', { doc: 'directory of the per-agent trace logs `<agent>.log`' }),
    traceLogRetentionDays: read.integer('TRACE_LOG_RETENTION_DAYS', 14, {
      min: 0,
      max: 3650,
      doc: 'rotated trace logs older than this many days are deleted; `0` keeps all',
    }),
    tracePromptMaxChars: read.integer('TRACE_PROMPT_MAX_CHARS', 500, {
      min: 0,
      max: 1_000_000,
      doc: 'longest prompt written to a trace line; `0` writes none',
    }),
  };
}

/** Reads the gateway configuration (`read`: a recording reader when docs/configuration.md is generated). */
export function loadGatewayConfig(env: NodeJS.ProcessEnv = process.env, read: EnvReader = readEnv(env)): GatewayConfig {
  const apiKeys = read.list('API_KEYS', {
    doc: 'bearer keys for development use: every agent, tier `API_KEYS_TIER`',
  });
  const privateApiKeys = read.list('PRIVATE_API_KEYS', {
    doc: 'more accepted keys, whose every request is private (answered by `LOCAL_PROVIDERS` only)',
  });
  const keysFile = keysFileFromEnv(read);
  const natsUrl = readNatsUrl(read);
  const config: GatewayConfig = {
    port: read.integer('PORT', 8080, { min: 0, max: 65535, doc: 'HTTP port (`0`: any free port)' }),
    host: read.string('HOST', '127.0.0.1', {
      doc: 'listen address; one other machines reach (`0.0.0.0`) needs keys, or the gateway refuses to start',
    }),
    natsUrl,
    nats: readNatsClientSettings(read, 'gateway', natsUrl),
    apiKeys: Object.freeze(apiKeys),
    // Unlimited by default: API_KEYS is for development and tests, which a limit would only slow.
    apiKeysTier: read.string('API_KEYS_TIER', 'unlimited', {
      doc: 'rate tier of `API_KEYS` and `PRIVATE_API_KEYS`; must be a tier of `RATE_TIERS_FILE`',
    }),
    keysFile,
    privateApiKeys: Object.freeze(privateApiKeys),
    devKey: apiKeys.length === 0 && (keysFile === undefined || !keysFileHasEntries(keysFile)),
    agentsFile: readAgentsFile(read),
    defaultModel: readDefaultModel(read),
    subjectPrefix: readSubjectPrefix(read),
    requestTimeoutMs: read.integer('REQUEST_TIMEOUT_MS', 120_000, {
      min: 100,
      max: 3_600_000,
      doc: 'longest a chat request may take (504 `deadline_exceeded`), and an SSE reader may stall',
    }),
    drainTimeoutMs: read.integer('GATEWAY_DRAIN_TIMEOUT_MS', 10_000, {
      min: 0,
      max: 3_600_000,
      doc:
        'on SIGTERM, how long open responses, streams and WebSocket requests may finish; then streams are cut ' +
        'and JSON answers not ready get 503 `bus_unavailable`',
    }),
    firstTokenTimeoutMs: read.integer('FIRST_TOKEN_TIMEOUT_MS', 30_000, {
      min: 100,
      max: 3_600_000,
      doc: "longest wait for a first token before a retry, then the agent's `fallback`",
    }),
    routingFile: read.string('ROUTING_FILE', DEFAULT_ROUTING_FILE, {
      doc: 'the router\'s rules for `model: "auto"` ([routing.md](routing.md))',
    }),
    secretPatternsFile: readSecretPatternsFile(read),
    secretsMakePrivate:
      read.oneOf('SECRETS_MAKE_PRIVATE', 'true', {
        allowed: ['true', 'false'],
        doc: 'a secret in the input keeps the request on `LOCAL_PROVIDERS`; `false`: others get it masked',
      }) === 'true',
    heartbeatMs: read.integer('HEARTBEAT_MS', 2_000, {
      min: 50,
      max: 60_000,
      doc: 'worker heartbeat interval; 3 missed (at least 1 s): the worker is presumed dead',
    }),
    bodyLimitBytes: read.integer('BODY_LIMIT_BYTES', 1024 * 1024, {
      min: 1024,
      max: 64 * 1024 * 1024,
      doc: 'request body and WebSocket frame limit (413 `request_too_large`; WebSocket: close 1009)',
    }),
    embeddingsBodyLimitBytes: read.integer('EMBEDDINGS_BODY_LIMIT_BYTES', 16 * 1024 * 1024, {
      min: 1024,
      max: 64 * 1024 * 1024,
      doc:
        'request body limit of `/v1/embeddings` (and `/agents/<agent>/v1/embeddings`): a batch of 2048 inputs ' +
        "outgrows `BODY_LIMIT_BYTES`; one larger than NATS's `max_payload` is sent in parts (only a single " +
        'input over it is 413 `request_too_large`)',
    }),
    maxAudioUploadBytes: read.integer('MAX_AUDIO_UPLOAD_BYTES', 25 * 1024 * 1024, {
      min: 1024,
      max: 256 * 1024 * 1024,
      doc: "the largest audio `file` of `/v1/audio/transcriptions` (413 `audio_file_too_large`; OpenAI's is 25 MB)",
    }),
    maxHeaderBytes: read.integer('MAX_HEADER_BYTES', 16 * 1024, {
      min: 1024,
      max: 1024 * 1024,
      doc: 'request line and headers together (431 `headers_too_large`)',
    }),
    requestReceiveTimeoutMs: read.integer('REQUEST_RECEIVE_TIMEOUT_MS', 300_000, {
      min: 1_000,
      max: 3_600_000,
      doc:
        'time a client has to send its whole request, headers and body (408 `client_timeout`), and for ' +
        'an upload to `/v1/audio/transcriptions` to be read whole; ' +
        "Node's own default, which fastify would turn off: a body that never ends would hold its socket forever",
    }),
    inputLimits: readInputLimits(read),
    ...readTraceLogSettings(read),
    ...readWebSocketSettings(read),
    allowedHosts: Object.freeze(
      read.list('ALLOWED_HOSTS', {
        doc:
          "`Host` names (or addresses) clients use besides loopback ones and `HOST`, e.g. a proxy's public " +
          'name; `*`: any. Others get 403 `host_not_allowed` (DNS rebinding)',
      }),
    ),
    corsOrigins: Object.freeze(
      read.list('CORS_ORIGINS', {
        doc: 'browser origins (`*`: any) whose pages may call the HTTP API; unset: none',
      }),
    ),
    rateTiersFile: readRateTiersFile(read),
    rateLimitBucket: readRateLimitBucket(read),
    rateLimitTimeoutMs: read.integer('RATE_LIMIT_TIMEOUT_MS', 500, {
      min: 10,
      max: 60_000,
      doc:
        'longest one KV call of the rate limiter may take (time the gateway itself was busy does not count); ' +
        'past it the store counts as down (`RATE_LIMIT_STORE_DOWN`)',
    }),
    rateLimitStoreDown: read.oneOf('RATE_LIMIT_STORE_DOWN', 'closed', {
      allowed: STORE_DOWN_POLICIES,
      doc:
        "a limited key's request while the rate-limit store does not answer: `closed` refuses it " +
        '(503 `rate_limit_unavailable`), `open` lets it through unlimited',
    }),
    audit: readAuditSettings(read),
  };
  read.done();
  // The dev key is public (it is in the README): it may only open a gateway nobody else can reach.
  if (config.devKey && !isLoopbackHost(config.host)) {
    throw new ConfigError([
      `HOST=${JSON.stringify(config.host)} is reachable from other machines, and API_KEYS is not set` +
        `${config.keysFile === undefined ? '' : ` and the keys file ${config.keysFile} (KEYS_FILE) lists no key`}: ` +
        'the development key "local-only" works only on a loopback address. ' +
        'Create keys with "npm run keys -- create --name <name>" ' +
        '(the production path: per-key scopes and rate tiers) ' +
        'or set API_KEYS (comma-separated keys; ' +
        'for development: they are unlimited unless API_KEYS_TIER says otherwise) ' +
        `to listen on ${config.host}, or leave HOST at 127.0.0.1.`,
    ]);
  }
  return Object.freeze(config);
}
