import type { ErrorFrame } from './reply-frames.schema.js';

/** OpenAI's `error.type` values that agentbus uses (`requests` is OpenAI's type for a 429). */
export type OpenAIErrorType = 'invalid_request_error' | 'authentication_error' | 'requests' | 'server_error';

/** One row of the error table. */
export interface ErrorSpec {
  /** HTTP status the gateway answers with. */
  readonly status: number;
  /** OpenAI `error.type`, so SDKs classify the error as they would OpenAI's own. */
  readonly type: OpenAIErrorType;
  /** True when the same request may succeed if sent again later. */
  readonly retryable: boolean;
  /** Message used when the thrower gives none. */
  readonly message: string;
}

/**
 * The one error table: every error code agentbus emits, over HTTP or on the bus. Each key is
 * the `code` clients see. `test/error-table.test.ts` keeps the rows consistent.
 */
export const ERROR_TABLE = {
  invalid_json: {
    status: 400,
    type: 'invalid_request_error',
    retryable: false,
    message: 'The request body is not valid JSON.',
  },
  invalid_request: { status: 400, type: 'invalid_request_error', retryable: false, message: 'The request is invalid.' },
  // Input limits (README "Input limits"): each names its variable, so an operator knows what to raise.
  json_too_deep: {
    status: 400,
    type: 'invalid_request_error',
    retryable: false,
    message: 'The JSON is nested deeper than MAX_JSON_DEPTH allows.',
  },
  forbidden_json_key: {
    status: 400,
    type: 'invalid_request_error',
    retryable: false,
    message: 'The JSON has a "__proto__" key, or a "constructor" key holding "prototype"; rename the key.',
  },
  too_many_messages: {
    status: 400,
    type: 'invalid_request_error',
    retryable: false,
    message: 'The request has more messages than MAX_MESSAGES allows.',
  },
  message_too_long: {
    status: 400,
    type: 'invalid_request_error',
    retryable: false,
    message: 'A message is longer than MAX_MESSAGE_CHARS allows.',
  },
  too_many_tools: {
    status: 400,
    type: 'invalid_request_error',
    retryable: false,
    message: 'The request defines more tools than MAX_TOOLS allows.',
  },
  tool_schema_too_large: {
    status: 400,
    type: 'invalid_request_error',
    retryable: false,
    message: 'A tool definition is larger than MAX_TOOL_SCHEMA_BYTES allows.',
  },
  invalid_envelope: {
    status: 400,
    type: 'invalid_request_error',
    retryable: false,
    message: 'The chat request envelope does not match the bus schema.',
  },
  invalid_api_key: {
    status: 401,
    type: 'invalid_request_error',
    retryable: false,
    message: 'Missing or invalid API key. Send "Authorization: Bearer <key>".',
  },
  origin_not_allowed: {
    status: 403,
    type: 'invalid_request_error',
    retryable: false,
    message: 'This origin may not connect.',
  },
  // 403 like OpenAI's permission errors (the SDKs raise PermissionDeniedError by status).
  agent_not_allowed: {
    status: 403,
    type: 'invalid_request_error',
    retryable: false,
    message: 'This API key may not call this agent.',
  },
  model_not_found: {
    status: 404,
    type: 'invalid_request_error',
    retryable: false,
    message: 'The model does not exist.',
  },
  session_not_found: {
    status: 404,
    type: 'invalid_request_error',
    retryable: false,
    message: 'The session does not exist.',
  },
  unknown_url: { status: 404, type: 'invalid_request_error', retryable: false, message: 'Unknown URL.' },
  client_timeout: {
    status: 408,
    type: 'invalid_request_error',
    retryable: false,
    message: 'The request was not received in time.',
  },
  request_too_large: {
    status: 413,
    type: 'invalid_request_error',
    retryable: false,
    message: 'The request body is larger than BODY_LIMIT_BYTES allows.',
  },
  uri_too_long: { status: 414, type: 'invalid_request_error', retryable: false, message: 'The URL is too long.' },
  unsupported_media_type: {
    status: 415,
    type: 'invalid_request_error',
    retryable: false,
    message: 'Send the body as application/json.',
  },
  upgrade_required: {
    status: 426,
    type: 'invalid_request_error',
    retryable: false,
    message: 'This endpoint speaks WebSocket; connect with a WebSocket client.',
  },
  too_many_concurrent_requests: {
    status: 429,
    type: 'requests',
    retryable: true,
    message: 'Too many requests are in flight at once; wait for one to finish.',
  },
  // A key's per-minute/hour/day request limit (its tier in RATE_TIERS_FILE); Retry-After says when.
  rate_limit_exceeded: {
    status: 429,
    type: 'requests',
    retryable: true,
    message: 'Rate limit reached; try again later.',
  },
  headers_too_large: {
    status: 431,
    type: 'invalid_request_error',
    retryable: false,
    message: 'The request headers are larger than MAX_HEADER_BYTES allows.',
  },
  request_cancelled: {
    status: 499,
    type: 'invalid_request_error',
    retryable: false,
    message: 'The client cancelled the request.',
  },
  internal_error: { status: 500, type: 'server_error', retryable: false, message: 'Internal error.' },
  backend_error: { status: 502, type: 'server_error', retryable: true, message: 'The model backend failed.' },
  backend_model_not_found: {
    status: 502,
    type: 'server_error',
    retryable: false,
    message: 'The model backend does not have the model.',
  },
  worker_lost: { status: 502, type: 'server_error', retryable: true, message: 'The worker stopped answering.' },
  stream_protocol_error: {
    status: 502,
    type: 'server_error',
    retryable: true,
    message: 'The reply stream from the worker was malformed.',
  },
  no_provider_available: {
    status: 503,
    type: 'server_error',
    retryable: true,
    message: 'No model provider of this agent may take the request now.',
  },
  // Not retryable: no provider of the chain is local, so sending the same private request again
  // can only fail again; it takes a change to the catalog or to LOCAL_PROVIDERS.
  no_local_provider: {
    status: 503,
    type: 'server_error',
    retryable: false,
    message: 'The request is private and no provider of this agent is local (LOCAL_PROVIDERS).',
  },
  no_worker: { status: 503, type: 'server_error', retryable: true, message: 'No worker is serving this agent.' },
  // Retryable: the gateway tries again at once (another worker may have room), then the agent's
  // fallback; the SDKs back off on the 503 and its Retry-After.
  overloaded: {
    status: 503,
    type: 'server_error',
    retryable: true,
    message:
      'The worker is running its limit of model calls (MAX_INFLIGHT) with its queue full (MAX_QUEUED); start more workers.',
  },
  backend_unreachable: {
    status: 503,
    type: 'server_error',
    retryable: true,
    message: 'The model backend is unreachable.',
  },
  bus_unavailable: {
    status: 503,
    type: 'server_error',
    retryable: true,
    message: 'The message bus (NATS) is unavailable.',
  },
  // Not retryable: the same request against the same model would most likely time out again,
  // and an SDK retrying it silently triples the wait.
  deadline_exceeded: {
    status: 504,
    type: 'server_error',
    retryable: false,
    message: 'The request did not finish before its deadline.',
  },
  // Retryable, unlike the whole-answer deadline: nothing was relayed yet, so another worker or
  // the agent's fallback may answer in time.
  first_token_timeout: {
    status: 504,
    type: 'server_error',
    retryable: true,
    message: 'The model produced no first token in time.',
  },
} as const satisfies Record<string, ErrorSpec>;

/** Every error code agentbus emits. */
export type ErrorCode = keyof typeof ERROR_TABLE;

/** The codes as a list, in table order (feeds the error frame schema's enum). */
export const ERROR_CODES = Object.keys(ERROR_TABLE) as ErrorCode[];

/** True when `code` is a row of the error table. */
export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_TABLE, code);
}

/** An error as it crosses the bus: plain data, rebuilt into {@link AgentbusError} on arrival. */
export type WireError = ErrorFrame['error'];

/**
 * The error class both ends throw. Compare `code`, never the class: errors that crossed the
 * bus are rebuilt from data and carry no stack from the process that raised them.
 */
export class AgentbusError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly type: OpenAIErrorType;
  readonly retryable: boolean;
  /** The request field at fault (`messages[0].content`), or null. */
  readonly param: string | null;

  constructor(code: ErrorCode, message?: string, options: { param?: string | null; cause?: unknown } = {}) {
    const spec: ErrorSpec = ERROR_TABLE[code];
    super(message ?? spec.message, { cause: options.cause });
    this.name = 'AgentbusError';
    this.code = code;
    this.status = spec.status;
    this.type = spec.type;
    this.retryable = spec.retryable;
    this.param = options.param ?? null;
  }

  /**
   * Any thrown value as an AgentbusError: itself when it is one, else `internal_error` with
   * `context` before the original message and the original kept as `cause` (for the log).
   */
  static from(err: unknown, context = 'Internal error'): AgentbusError {
    if (err instanceof AgentbusError) return err;
    const message = err instanceof Error ? err.message : String(err);
    return new AgentbusError('internal_error', `${context}: ${message}`, { cause: err });
  }

  /** The error as bus data for an `error` frame. */
  toWire(): WireError {
    return {
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      status: this.status,
      param: this.param,
    };
  }

  /** The OpenAI error body: `{"error":{"message","type","param","code"}}`. */
  toOpenAI(): { error: { message: string; type: OpenAIErrorType; param: string | null; code: ErrorCode } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** Rebuilds an error that arrived over the bus; an unknown code becomes `internal_error`. */
export function errorFromWire(wire: WireError): AgentbusError {
  if (isErrorCode(wire.code)) return new AgentbusError(wire.code, wire.message, { param: wire.param ?? null });
  return new AgentbusError('internal_error', `${wire.code}: ${wire.message}`);
}
