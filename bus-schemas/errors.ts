import type { ErrorFrame } from './reply-frames.schema.js';

/**
 * OpenAI's `error.type` values that agentbus uses (`requests` is OpenAI's type for a 429; `insufficient_quota`
 * its type for the 429 of an account with no quota left, which no wait fixes).
 */
export type OpenAIErrorType =
  'invalid_request_error' | 'authentication_error' | 'requests' | 'insufficient_quota' | 'server_error';

/** One row of the error table. */
export interface ErrorSpec {
  /** HTTP status the gateway answers with. */
  readonly status: number;
  /** OpenAI `error.type`, so SDKs classify the error as they would OpenAI's own. */
  readonly type: OpenAIErrorType;
  /** True when the same request may succeed if sent again later. */
  readonly retryable: boolean;
  /**
   * True for an error that is not retryable but says only that this agent's own backend refused
   * (its key, its model, its account's quota, no private-safe provider): the gateway skips the retry and asks the
   * agent's catalog `fallback` at once, which has its own chain. Never on a client error.
   */
  readonly nextAgent?: true;
  /** Message used when the thrower gives none. */
  readonly message: string;
  /** When it happens and what the client or operator should do (docs/errors.md is generated from it). */
  readonly doc: string;
}

/**
 * The one error table: every error code agentbus emits, over HTTP or on the bus. Each key is
 * the `code` clients see. `test/unit/error-table.test.ts` keeps the rows consistent, and
 * `npm run docs` writes docs/errors.md from them (`test/unit/docs-drift.test.ts` checks it).
 */
export const ERROR_TABLE = {
  invalid_json: {
    status: 400,
    type: 'invalid_request_error',
    retryable: false,
    message: 'The request body is not valid JSON.',
    doc:
      "The body (or a WebSocket frame) is not valid JSON. An empty body counts too. Fix the client's " +
      'serialisation; the message says what the parser found.',
  },
  invalid_request: {
    status: 400,
    type: 'invalid_request_error',
    retryable: false,
    message: 'The request is invalid.',
    doc:
      'A field is missing, mistyped or not supported (`n` > 1, `logprobs`, remote image URLs, a bad header hint…); ' +
      '`param` names it. Fix the request: nothing unsupported is silently ignored. Also a cancel of a stored ' +
      'response (`param: "response_id"`): only background responses can be cancelled, and agentbus creates none. ' +
      'Also a 4xx error code of a worker newer than the gateway (the message begins with it; upgrade the gateway).',
  },
  audio_format_unavailable: {
    status: 400,
    type: 'invalid_request_error',
    retryable: false,
    message: 'The requested audio format cannot be produced here.',
    doc:
      "A `/v1/audio/speech` `response_format` (or a chat request's `audio.format`) other than `wav` needs an " +
      "encoder the worker does not have (Debian's `ffmpeg`), or the worker that took it is an older version " +
      'without that format (a rolling upgrade); the message names which. Ask for `wav`, or install the encoder ' +
      '(or upgrade) on the workers.',
  },
  audio_output_too_long: {
    status: 400,
    type: 'invalid_request_error',
    retryable: false,
    message: 'The answer is too long to be spoken.',
    doc:
      'A chat answer to be spoken in `flac` or `opus` is longer than one speech request may carry (4096 ' +
      'characters), and those formats do not join from pieces: nothing is stored. Ask for `wav`, `mp3`, `aac` ' +
      'or `pcm16`, or a shorter answer (`max_completion_tokens`).',
  },
  audio_file_invalid: {
    status: 400,
    type: 'invalid_request_error',
    retryable: false,
    message: 'The uploaded file is not audio that can be transcribed.',
    doc:
      'The `file` of `/v1/audio/transcriptions` is not WAV, MP3, Ogg, FLAC, WebM or MP4/M4A audio (checked from ' +
      'its first bytes), ffmpeg could not decode it, or it is a WAV whose header names a sample rate below 1000 Hz; ' +
      '`param: "file"`. Send one of those formats.',
  },
  audio_too_short: {
    status: 400,
    type: 'invalid_request_error',
    retryable: false,
    message: 'Audio file is too short. Minimum audio length is 0.1 seconds.',
    doc:
      'The `file` of `/v1/audio/transcriptions` decodes to less than 0.1 seconds of sound (a WAV cut off after ' +
      'its header, say); OpenAI\'s code and message; `param: "file"`. Send the whole recording.',
  },
  audio_too_long: {
    status: 400,
    type: 'invalid_request_error',
    retryable: false,
    message: 'The audio is longer than MAX_TRANSCRIPTION_SECONDS allows.',
    doc:
      'The `file` of `/v1/audio/transcriptions` is a WAV whose own header makes it longer than ' +
      "`MAX_TRANSCRIPTION_SECONDS` (1500 s by default, OpenAI's gpt-4o-transcribe limit, with its wording); " +
      '`param: "file"`. Nothing was run. Send a shorter recording or split it; other formats are cut at the limit.',
  },
  // Input limits (docs/security.md, "Input limits"): each names its variable, so an operator knows what to raise.
  json_too_deep: {
    status: 400,
    type: 'invalid_request_error',
    retryable: false,
    message: 'The JSON is nested deeper than MAX_JSON_DEPTH allows.',
    doc:
      'A body or frame nests objects/arrays deeper than `MAX_JSON_DEPTH` (checked before parsing). Flatten it, or ' +
      'raise `MAX_JSON_DEPTH` for a legitimate deep tool schema.',
  },
  forbidden_json_key: {
    status: 400,
    type: 'invalid_request_error',
    retryable: false,
    message: 'The JSON has a "__proto__" key, or a "constructor" key holding "prototype"; rename the key.',
    doc:
      'The JSON has a `__proto__` key, or `constructor` holding `prototype`, refused as prototype pollution. ' +
      'Rename the key.',
  },
  too_many_messages: {
    status: 400,
    type: 'invalid_request_error',
    retryable: false,
    message: 'The request has more messages than MAX_MESSAGES allows.',
    doc: 'More than `MAX_MESSAGES` messages (`param: "messages"`). Send less history, or raise the limit.',
  },
  message_too_long: {
    status: 400,
    type: 'invalid_request_error',
    retryable: false,
    message: 'A message is longer than MAX_MESSAGE_CHARS allows.',
    doc:
      'One message (or a legacy `query`, `prompt`, `system`) is over `MAX_MESSAGE_CHARS`; `param` names it. ' +
      'Shorten it, or raise the limit.',
  },
  too_many_tools: {
    status: 400,
    type: 'invalid_request_error',
    retryable: false,
    message: 'The request defines more tools than MAX_TOOLS allows.',
    doc: 'More than `MAX_TOOLS` tool definitions (`param: "tools"`). Send fewer tools; 128 is the bus\'s own bound.',
  },
  tool_schema_too_large: {
    status: 400,
    type: 'invalid_request_error',
    retryable: false,
    message: 'A tool definition is larger than MAX_TOOL_SCHEMA_BYTES allows.',
    doc:
      'A tool definition (or `response_format`) is over `MAX_TOOL_SCHEMA_BYTES` as JSON; `param` names it. Trim ' +
      'the schema, or raise the limit.',
  },
  context_length_exceeded: {
    status: 400,
    type: 'invalid_request_error',
    retryable: false,
    message: "The conversation does not fit the model's context.",
    doc:
      "The agent's system prompt, the conversation's stored history and the new messages together are more " +
      'than the model\'s context holds (`param: "messages"`; OpenAI\'s code for the same). Send fewer or ' +
      'shorter messages, start a new conversation, or give the backend a larger context (`LLAMA_CPP_CONTEXT_SIZE`). ' +
      'On `llama-cpp` and OpenAI-compatible servers the stored turns make room first, oldest first: then only ' +
      'what the client sent is too long. Also an embeddings input longer than the embedding context ' +
      '(`param: "input[i]"`, or `"input"` for a single input). ' +
      'Not retried, and not counted against the provider: the backend is well.',
  },
  invalid_envelope: {
    status: 400,
    type: 'invalid_request_error',
    retryable: false,
    message: 'The chat request envelope does not match the bus schema.',
    doc:
      'A bus envelope failed the schema (a replayed or hand-written envelope, a foreign publisher). Check it ' +
      'against `bus-schemas/json/`.',
  },
  invalid_api_key: {
    status: 401,
    type: 'invalid_request_error',
    retryable: false,
    message: 'Missing or invalid API key. Send "Authorization: Bearer <key>".',
    doc:
      'No `Authorization: Bearer <key>`, an unknown key, or a revoked one. Send a valid key; `local-only` works ' +
      'only from this machine (a loopback peer) while no key is configured nor ever was.',
  },
  origin_not_allowed: {
    status: 403,
    type: 'invalid_request_error',
    retryable: false,
    message: 'This origin may not connect.',
    doc:
      'A browser page of another origin opened the WebSocket. List the origin in `WS_ALLOWED_ORIGINS` if it should ' +
      'connect.',
  },
  // 403 rather than 421: HTTP/2 clients retry a 421 on another connection, which cannot help here.
  host_not_allowed: {
    status: 403,
    type: 'invalid_request_error',
    retryable: false,
    message: 'This Host header names no address of this gateway.',
    doc:
      "The request's `Host` is not a loopback name or address, the `HOST` the gateway listens on, or in " +
      '`ALLOWED_HOSTS`: a page using DNS rebinding, or a name the operator has not listed. Add the name clients use ' +
      "(the one in their URL, e.g. your proxy's public name) to `ALLOWED_HOSTS`.",
  },
  // 403 like OpenAI's permission errors (the SDKs raise PermissionDeniedError by status).
  agent_not_allowed: {
    status: 403,
    type: 'invalid_request_error',
    retryable: false,
    message: 'This API key may not call this agent.',
    doc:
      'The key\'s scope lacks the agent (or, for `model: "auto"`, every agent the router chose). ' +
      'Use an agent the key may call, or a key with `--agents …`/`--all`.',
  },
  model_not_found: {
    status: 404,
    type: 'invalid_request_error',
    retryable: false,
    message: 'The model does not exist.',
    doc: 'No agent by that name; the message lists the agents the key may call. Check the name (`GET /v1/models`).',
  },
  session_not_found: {
    status: 404,
    type: 'invalid_request_error',
    retryable: false,
    message: 'The session does not exist.',
    doc:
      "The conversation id (`X-Session-ID`, a frame's `session_id`, a Responses body's `conversation`) is " +
      'unknown or belongs to another key (both answer alike), or its first answer never ' +
      'reached the client whole (a conversation is stored only then); or `X-Session-ID`/`session_id` names an ' +
      'answer deleted since (its `conversation_id` still names the conversation). Start a new conversation: ' +
      'send none of them.',
  },
  item_not_found: {
    status: 404,
    type: 'invalid_request_error',
    retryable: false,
    message: 'The referenced item does not exist.',
    doc:
      "An `item_reference` input item names no item of this key's stored responses: unknown, of a deleted response " +
      "or one stored with `store: false`, or another key's (all answer alike). `param` names the item's `id`.",
  },
  response_not_found: {
    status: 404,
    type: 'invalid_request_error',
    retryable: false,
    message: 'The response does not exist.',
    doc:
      'No stored response by that id for this key: unknown, deleted, stored with `store: false`, not delivered ' +
      "whole, or another key's (all answer alike). Responses API only.",
  },
  completion_not_found: {
    status: 404,
    type: 'invalid_request_error',
    retryable: false,
    message: 'The chat completion does not exist.',
    doc:
      'No stored chat completion by that id for this key on `GET`/`DELETE /v1/chat/completions/{id}` or ' +
      '`…/messages`: unknown, ' +
      "deleted, stored with `store: false`, not delivered whole, or another key's (all answer alike).",
  },
  unknown_url: {
    status: 404,
    type: 'invalid_request_error',
    retryable: false,
    message: 'Unknown URL.',
    doc: 'No such route. Check the method and path ([api.md](api.md)).',
  },
  audio_file_too_large: {
    status: 413,
    type: 'invalid_request_error',
    retryable: false,
    message: 'The uploaded file is larger than MAX_AUDIO_UPLOAD_BYTES allows.',
    doc:
      'The `file` of `/v1/audio/transcriptions` is over `MAX_AUDIO_UPLOAD_BYTES` (25 MiB by default, as ' +
      "OpenAI's limit). Send a shorter or more compressed recording, or raise the limit.",
  },
  client_timeout: {
    status: 408,
    type: 'invalid_request_error',
    retryable: false,
    message: 'The request was not received in time.',
    doc:
      'The HTTP request did not arrive whole in time: its head within 60 s, all of it within ' +
      '`REQUEST_RECEIVE_TIMEOUT_MS` (5 min), an upload to `/v1/audio/transcriptions` also read whole ' +
      "within it. The socket is closed. Check the client's connection.",
  },
  request_too_large: {
    status: 413,
    type: 'invalid_request_error',
    retryable: false,
    message: 'The request body is larger than BODY_LIMIT_BYTES allows.',
    doc:
      'The body is over `BODY_LIMIT_BYTES` (`EMBEDDINGS_BODY_LIMIT_BYTES` on the embeddings routes; ' +
      'decompressed, when sent with a `Content-Encoding`; a WebSocket ' +
      "frame closes the socket with 1009), over the key's tier `max_input_bytes`, its messages together are " +
      "over `MAX_INPUT_CHARS` (what one turn stores), or the envelope is over NATS's `max_payload` (an " +
      'embeddings batch is sent in parts: then one input alone is); or a ' +
      "fan-out makes more model calls than a window of the key's tier allows at all (no wait would admit it). " +
      'Send less (name one agent), or raise the limits.',
  },
  uri_too_long: {
    status: 414,
    type: 'invalid_request_error',
    retryable: false,
    message: 'The URL is too long.',
    doc: 'A URL path segment is too long. Shorten the URL.',
  },
  unsupported_media_type: {
    status: 415,
    type: 'invalid_request_error',
    retryable: false,
    message: 'Send the body as application/json.',
    doc:
      'The body is not `application/json`, its charset is not UTF-8 (`param: "Content-Type"`), or its ' +
      '`Content-Encoding` is not `gzip`, `deflate` or `br` (one ' +
      'coding, JSON bodies only; `param: "Content-Encoding"`, and `Accept-Encoding` lists what is accepted). ' +
      'Send `Content-Type: application/json`, uncompressed or in one of those codings.',
  },
  expectation_failed: {
    status: 417,
    type: 'invalid_request_error',
    retryable: false,
    message: 'The gateway meets no expectation but "100-continue".',
    doc:
      'The request has an `Expect` header other than `100-continue`, the only one HTTP defines. Leave it out, ' +
      'or send `Expect: 100-continue`.',
  },
  upgrade_required: {
    status: 426,
    type: 'invalid_request_error',
    retryable: false,
    message: 'This endpoint speaks WebSocket; connect with a WebSocket client.',
    doc: 'A plain HTTP GET on `/v1/ws`. Connect with a WebSocket client.',
  },
  too_many_concurrent_requests: {
    status: 429,
    type: 'requests',
    retryable: true,
    message: 'Too many requests are in flight at once; wait for one to finish.',
    doc:
      "More requests in flight than allowed: the key's tier `concurrent_streams` (over every replica, with " +
      '`Retry-After: 1`) or `WS_MAX_INFLIGHT` per socket. Wait for one to end.',
  },
  // A key's per-minute/hour/day request limit (its tier in RATE_TIERS_FILE); Retry-After says when.
  rate_limit_exceeded: {
    status: 429,
    type: 'requests',
    retryable: true,
    message: 'Rate limit reached; try again later.',
    doc:
      'The key used up a window (minute, hour, day) of its rate tier; the message names it and `Retry-After` says ' +
      'when; or the key sent more body bytes than its `max_input_bytes` per minute. Wait, or give the key another ' +
      'tier. Gateway only, never on the bus.',
  },
  // An upstream's 429: the backend is well, only busy, so its breaker does not count it and the gateway does
  // not ask the same agent again (its workers share the upstream's limit); Retry-After is the upstream's.
  backend_rate_limited: {
    status: 429,
    type: 'requests',
    retryable: true,
    message: 'The model backend is rate limiting agentbus; try again later.',
    doc:
      "An upstream (an OpenAI-compatible server) answered 429 to the worker's own key: its rate limit, not the " +
      "client's. `Retry-After` is the upstream's (at most 60 s; `1` when it sent none). The worker's next " +
      "provider for the agent is tried, then the gateway's agent `fallback`, never the same agent again; not " +
      'counted by the circuit breaker. Also the answer when every provider of the chain tried answered 429 (the ' +
      'others skipped), with the soonest wait. Wait and send it again (the SDKs do), or raise the upstream limits.',
  },
  // Not retryable although a 429 (OpenAI's own shape for it): no wait brings the quota back.
  backend_quota_exceeded: {
    status: 429,
    type: 'insufficient_quota',
    retryable: false,
    nextAgent: true,
    message: 'The model backend says the account agentbus uses has no quota left.',
    doc:
      'An upstream answered 429 `insufficient_quota` (or another billing code: `credit_balance_exhausted`, a spend ' +
      "or usage limit) to the worker's own key: the operator's account has no credit or hit its limit. OpenAI's " +
      "`type` and `x-should-retry: false`, so the SDKs do not retry it; the worker's next provider is tried (also " +
      'the answer when every provider of the chain tried had no quota left), nothing is retried or counted by the ' +
      "circuit breaker, but a chat agent's catalog `fallback` (its own backend and key) is asked at once. Add " +
      'credit or raise the limit upstream, or change `OPENAI_API_KEY`.',
  },
  headers_too_large: {
    status: 431,
    type: 'invalid_request_error',
    retryable: false,
    message: 'The request headers are larger than MAX_HEADER_BYTES allows.',
    doc:
      'The request line and headers are over `MAX_HEADER_BYTES` (a huge cookie or token, a long query string), or ' +
      'a request asking for an upgrade other than WebSocket has more than 1,000 headers; the connection closes. ' +
      'Send less, or raise it.',
  },
  cancel_not_active: {
    status: 400,
    type: 'invalid_request_error',
    retryable: false,
    message: 'No request with this id is in flight on this socket; nothing was cancelled.',
    doc:
      'A WebSocket `cancel` named an id that is not in flight: its request already ended (its terminal frame ' +
      'is sent or on its way: a cancel racing the end of an answer) or was never sent. The error frame has ' +
      '`id: null` and `refused_id` naming it. Harmless after a race; otherwise check the id.',
  },
  request_cancelled: {
    status: 499,
    type: 'invalid_request_error',
    retryable: false,
    message: 'The client cancelled the request.',
    doc:
      'The client cancelled (a WebSocket `cancel`) or left before the answer was complete, or while its request ' +
      'body (an upload) was still arriving; nothing was stored. HTTP logs and metrics count it as 499.',
  },
  internal_error: {
    status: 500,
    type: 'server_error',
    retryable: false,
    message: 'Internal error.',
    doc:
      'A bug in agentbus. The gateway or worker log has the cause; please report it. Also an error code of a ' +
      'worker newer than the gateway (the message begins with it): not retried; upgrade the gateway.',
  },
  backend_error: {
    status: 502,
    type: 'server_error',
    retryable: true,
    message: 'The model backend failed.',
    doc:
      'The model backend failed (an HTTP error, a stream cut mid-answer). Before the first token the gateway ' +
      "retries, then the agent's `fallback`; check the backend's log.",
  },
  backend_model_not_found: {
    status: 502,
    type: 'server_error',
    retryable: false,
    nextAgent: true,
    message: 'The model backend does not have the model.',
    doc:
      'The backend lacks the model. Run `ollama pull <model>` (the message names it), or set `DEFAULT_MODEL` or ' +
      "the agent's `model` to one it has. The worker's next provider for the agent is tried; not retried on the " +
      "same agent, but a chat agent's catalog `fallback`, which names its own model, is asked at once.",
  },
  // Not retryable: the upstream refused the worker's own key, so the same request fails the same
  // way until an operator fixes the setting; the chain still moves on to its next provider, and
  // the gateway to the agent's fallback (another backend, its own key).
  backend_auth_failed: {
    status: 502,
    type: 'server_error',
    retryable: false,
    nextAgent: true,
    message: 'The model backend refused the key agentbus uses for it.',
    doc:
      "An upstream (an OpenAI-compatible server) answered 401 or 403 to the worker's own key: a configuration " +
      "error, not the client's. The message names the setting (`OPENAI_API_KEY`, `OPENAI_AUDIO_API_KEY`). The " +
      "worker's next provider for the agent is tried; not retried on the same agent and not counted by the " +
      "circuit breaker, but a chat agent's catalog `fallback` (its own backend and key) is asked at once.",
  },
  worker_lost: {
    status: 502,
    type: 'server_error',
    retryable: true,
    message: 'The worker stopped answering.',
    doc:
      'The worker went silent (3 × `HEARTBEAT_MS`, at least 1 s: crashed, killed, stuck, or drained too long). ' +
      'A request no worker has read yet is waited for while every worker of its agent beats (docs/bus.md). ' +
      "Retried before the first token; check the worker's log.",
  },
  stream_protocol_error: {
    status: 502,
    type: 'server_error',
    retryable: true,
    message: 'The reply stream from the worker was malformed.',
    doc:
      'The reply frames came out of order, malformed, or ended without a terminal frame. A worker of another ' +
      "version or a bug: check the worker's log.",
  },
  no_provider_available: {
    status: 503,
    type: 'server_error',
    retryable: true,
    message: 'No model provider of this agent may take the request now.',
    doc:
      "Every provider of the agent's chain failed before its first token or was skipped (open circuit, not local); " +
      'the message names each and why. Fix the backend, or wait `BREAKER_COOLDOWN_MS`. When the only failures ' +
      "were upstreams' 429s, the chain ends with `backend_rate_limited` or `backend_quota_exceeded` instead. " +
      "An agent with one provider answers with that provider's own error, which names the setting to fix; while " +
      'its circuit is open, with the error that opened it, saying it was not tried this time.',
  },
  // Not retryable: no provider of the chain is local, so sending the same private request again
  // can only fail again; it takes a change to the catalog or to LOCAL_PROVIDERS. Another agent's
  // chain may have a local provider (its worker applies the same rule), so the fallback is asked.
  no_local_provider: {
    status: 503,
    type: 'server_error',
    retryable: false,
    nextAgent: true,
    message: 'The request is private and no provider of this agent is local (LOCAL_PROVIDERS).',
    doc:
      'The request is private (header, key, secret in the input, private conversation) and no provider of the ' +
      "agent's chain is in `LOCAL_PROVIDERS` (speech, transcription: no engine in `LOCAL_AUDIO_PROVIDERS`). " +
      "Add a local provider to the agent, or fix the list. Not retried on the same agent; a chat agent's " +
      'catalog `fallback` is asked at once, and answers only from a local provider of its own.',
  },
  no_worker: {
    status: 503,
    type: 'server_error',
    retryable: true,
    message: 'No worker is serving this agent.',
    doc:
      'No worker serves the agent (NATS answered "no responders" at once). Start one: `npm run worker -- --agents ' +
      '<agent>`, same `NATS_URL` and `SUBJECT_PREFIX`.',
  },
  // Retryable: the gateway tries again at once (another worker may have room), then the agent's
  // fallback; the SDKs back off on the 503 and its Retry-After.
  overloaded: {
    status: 503,
    type: 'server_error',
    retryable: true,
    message:
      'The worker is running its limit of model calls (MAX_INFLIGHT) with its queue full (MAX_QUEUED); ' +
      'start more workers.',
    doc:
      'The worker runs `MAX_INFLIGHT` model calls with its queue full (`MAX_QUEUED`), or the request waited ' +
      '`QUEUE_TIMEOUT_MS`. Retried once, then the `fallback`; often, start more workers.',
  },
  backend_unreachable: {
    status: 503,
    type: 'server_error',
    retryable: true,
    message: 'The model backend is unreachable.',
    doc:
      'The worker cannot reach its model backend (`OLLAMA_URL`, `OPENAI_BASE_URL`, a missing GGUF file or ' +
      'node-llama-cpp). Start the backend or fix the setting the message names.',
  },
  speech_engine_unavailable: {
    status: 503,
    type: 'server_error',
    retryable: false,
    message: 'The speech engine is not installed on the worker.',
    doc:
      'The worker serving the voice agent has no `espeak-ng` and could not install it on first use (not root, ' +
      'a configured `ESPEAK_NG_PATH`, or apt-get failed); the message names the command (`apt-get install ' +
      'espeak-ng`). Install it on the worker host, or run the worker as root. In a chain, the next engine speaks.',
  },
  transcription_engine_unavailable: {
    status: 503,
    type: 'server_error',
    retryable: false,
    message: 'The transcription engine is not installed on the worker.',
    doc:
      'The worker serving the voice agent has no `pocketsphinx_continuous` or no US English model, and could ' +
      'not install them (not root); the message names the command (`apt-get install pocketsphinx ' +
      'pocketsphinx-en-us`). Install them on the worker host. In a chain, the next engine listens.',
  },
  // Retryable: a new request (a new id, as an SDK's retry is) is answered afresh, and the gateway's own retry
  // (same id, a later `attempt`) replaces a pending attempt's turn. Only a retry of a committed id conflicts
  // again: `npm run replay` of a delivered request, which reports it as its normal outcome.
  answer_conflict: {
    status: 503,
    type: 'server_error',
    retryable: true,
    message: 'This request was already answered with another text; nothing was changed.',
    doc:
      'A redelivered request (the same request id) met a stored answer with other text, or an attempt still ' +
      'waiting for its delivery receipt. The stored turn is kept as it is and this answer is dropped; send the ' +
      'request again (the SDKs retry a 503 on their own).',
  },
  bus_unavailable: {
    status: 503,
    type: 'server_error',
    retryable: true,
    message: 'The message bus (NATS) is unavailable.',
    doc:
      "The gateway's NATS connection is down (a request waits up to 2 s for it to reconnect, e.g. to another " +
      'node of a cluster, then gets this) or the gateway is shutting down (a request that arrives while it ' +
      'drains, or a non-streamed answer not ready at GATEWAY_DRAIN_TIMEOUT_MS: nothing of it is stored); also ' +
      'ends an answer in progress. Check nats-server (both sides reconnect); after a shutdown, send the ' +
      'request again.',
  },
  // Gateway only: RATE_LIMIT_STORE_DOWN=closed and the rate-limit store did not answer.
  rate_limit_unavailable: {
    status: 503,
    type: 'server_error',
    retryable: true,
    message: "The rate limit store does not answer, so this key's limits cannot be checked.",
    doc:
      'The key has a limited tier and the rate-limit store (the JetStream KV bucket `RATE_LIMIT_BUCKET`) did not ' +
      'answer within `RATE_LIMIT_TIMEOUT_MS`, or JetStream is down; with `RATE_LIMIT_STORE_DOWN=closed` (the ' +
      'default) such requests are refused (`Retry-After: 1`). Retry; check JetStream (`/ready`, the gateway log ' +
      '`rate limit store unavailable`). Keys of an unlimited tier are not affected.',
  },
  // Retryable: another worker (another disk) may store it, and a freed disk lets this one again.
  memory_unavailable: {
    status: 503,
    type: 'server_error',
    retryable: true,
    message:
      'The worker cannot write the conversation memory (the disk under DATA_DIR is full or read-only, ' +
      'or the PostgreSQL of DATABASE_URL is unreachable).',
    doc:
      "The worker's memory database cannot be written: its disk is full, the file or `DATA_DIR` is read-only, " +
      'or the PostgreSQL server of `DATABASE_URL` is unreachable, refuses connections (shutting down, too many ' +
      'clients, a database with `ALLOW_CONNECTIONS` false), refuses the credentials, is read-only or out of ' +
      'space. Refused before the model is asked, so no answer is streamed that could not be kept; while the ' +
      "worker's probe cannot write, chat and `/memory/last` are refused at once. The message says what to fix; " +
      '`/ready` reports it meanwhile.',
  },
  // Not retryable: the same request against the same model would most likely time out again,
  // and an SDK retrying it silently triples the wait.
  deadline_exceeded: {
    status: 504,
    type: 'server_error',
    retryable: false,
    message: 'The request did not finish before its deadline.',
    doc:
      "No complete answer within the deadline (`REQUEST_TIMEOUT_MS`, the agent's `timeouts.total_ms`, or " +
      '`X-Request-Timeout-Ms`); the model call is aborted. Raise the limit for big models or send `max_tokens`.',
  },
  // Retryable, unlike the whole-answer deadline: nothing was relayed yet, so another worker or
  // the agent's fallback may answer in time.
  first_token_timeout: {
    status: 504,
    type: 'server_error',
    retryable: true,
    message: 'The model produced no first token in time.',
    doc:
      "No first token within `FIRST_TOKEN_TIMEOUT_MS` (or the agent's `timeouts.first_token_ms`), even after the " +
      'retry and fallback. A model loading for the first time can be slow: raise the limit.',
  },
} as const satisfies Record<string, ErrorSpec>;

/** Every error code agentbus emits. */
export type ErrorCode = keyof typeof ERROR_TABLE;

/** The codes as a list, in table order (feeds the error frame schema's enum). */
export const ERROR_CODES = Object.keys(ERROR_TABLE) as ErrorCode[];

/**
 * What an error code looks like on the bus: a row of the table, or one added to it after the
 * receiver was built (a worker newer than its gateway), which {@link errorFromWire} reads as a stand-in.
 */
export const ERROR_CODE_PATTERN = '^[a-z][a-z0-9_]{0,63}$';

/** True when, before the first token, the agent's catalog fallback is asked at once after `code` (no retry). */
export function asksNextAgent(code: ErrorCode): boolean {
  const spec: ErrorSpec = ERROR_TABLE[code];
  return spec.nextAgent === true;
}

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
  /** When a retry can first succeed (an open circuit's cooldown), for Retry-After; unknown if undefined. */
  readonly retryAfterMs: number | undefined;

  constructor(
    code: ErrorCode,
    message?: string,
    options: { param?: string | null; cause?: unknown; retryAfterMs?: number | undefined } = {},
  ) {
    const spec: ErrorSpec = ERROR_TABLE[code];
    super(message ?? spec.message, { cause: options.cause });
    this.name = 'AgentbusError';
    this.code = code;
    this.status = spec.status;
    this.type = spec.type;
    this.retryable = spec.retryable;
    this.param = options.param ?? null;
    this.retryAfterMs = options.retryAfterMs;
  }

  /**
   * Any thrown value as an AgentbusError: itself when it is one, else `internal_error` keeping
   * the original as `cause` for the log. Its message is `context: <original message>` when a
   * context is given; without one it says only where to look, as clients should not see internals.
   */
  static from(err: unknown, context?: string): AgentbusError {
    if (err instanceof AgentbusError) return err;
    if (context === undefined)
      return new AgentbusError('internal_error', 'Internal error; see the log.', { cause: err });
    const message = err instanceof Error ? err.message : String(err);
    return new AgentbusError('internal_error', `${context}: ${message}`, { cause: err });
  }

  /**
   * The same error in other words (a message, or the `param` where it surfaced), keeping its code
   * and its Retry-After unless told otherwise; the original is its cause.
   */
  restated(changes: { message?: string; param?: string | null; retryAfterMs?: number | undefined }): AgentbusError {
    return new AgentbusError(this.code, changes.message ?? this.message, {
      param: changes.param !== undefined ? changes.param : this.param,
      cause: this,
      retryAfterMs: 'retryAfterMs' in changes ? changes.retryAfterMs : this.retryAfterMs,
    });
  }

  /** The error as bus data for an `error` frame. */
  toWire(): WireError {
    return {
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      status: this.status,
      param: this.param,
      ...(this.retryAfterMs === undefined ? {} : { retry_after_ms: this.retryAfterMs }),
    };
  }

  /** The OpenAI error body: `{"error":{"message","type","param","code"}}`. */
  toOpenAI(): { error: { message: string; type: OpenAIErrorType; param: string | null; code: ErrorCode } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** What is stored, and when: one sentence for each of the two kinds of stored turn. */
function noSuchStoredMessage(noun: string, id: string): string {
  return (
    `No ${noun} "${id}" exists for this API key. A ${noun} is stored (unless sent with store: false) ` +
    'once its client has received it whole, not while it is being answered.'
  );
}

/** The text of `completion_not_found`, as {@link noSuchResponseMessage} for a chat completion. */
export const noSuchCompletionMessage = (id: string): string => noSuchStoredMessage('chat completion', id);

/**
 * The text of `response_not_found`, the same from the gateway and from a worker so that a probe
 * tells an unknown id from another key's by nothing. A response still being answered is not
 * stored yet: the text says so, for a client that looks it up mid-stream.
 */
export const noSuchResponseMessage = (id: string): string => noSuchStoredMessage('response', id);

/** Where a client named the session it asked for: the advice on starting anew follows it. */
export type SessionNamedIn = 'X-Session-ID' | 'conversation' | 'session';

const START_ANEW: Record<SessionNamedIn, string> = {
  'X-Session-ID': ' To start a new conversation, send no session id.',
  conversation: " To start a new conversation, leave out 'conversation'.",
  session: '',
};

/**
 * The text of `session_not_found`, the same for an unknown session and another key's. A
 * conversation whose first answer was cut has an id (its X-Session-ID came with the answer's
 * headers) but no session: the text says why, so the client does not take the id for a typo.
 */
export const noSuchSessionMessage = (ref: string, namedIn: SessionNamedIn): string =>
  `No session "${ref}" exists for this API key: a conversation is stored once its client has received ` +
  'an answer whole, and an answer deleted since (DELETE /v1/chat/completions/{id}, /v1/responses/{id}) ' +
  `no longer names it; its conversation_id still does.${START_ANEW[namedIn]}`;

/**
 * Rebuilds an error that arrived over the bus. A code this side does not know (added to the table
 * after it was built) keeps the sender's words behind the code, as a client error (`invalid_request`)
 * when the sender's status says 4xx, as `internal_error` otherwise: never retried, since only the
 * sender's version knows what the code allows, and never a refused frame (`stream_protocol_error`).
 */
export function errorFromWire(wire: WireError): AgentbusError {
  if (isErrorCode(wire.code))
    return new AgentbusError(wire.code, wire.message, { param: wire.param ?? null, retryAfterMs: wire.retry_after_ms });
  return new AgentbusError(standInFor(wire), `${wire.code}: ${wire.message}`, { param: wire.param ?? null });
}

/** The known code an unknown one is read as: bad input stays a 4xx (a rate limit's 429 is not bad input). */
function standInFor(wire: WireError): ErrorCode {
  const status = wire.status ?? 500;
  return status >= 400 && status < 500 && status !== 429 ? 'invalid_request' : 'internal_error';
}
