import type { SignalLike } from '../../common/light-signal.js';
import type { ChatRequest, Subjects } from '../../bus-schemas/index.js';
import type { Agent, Catalog } from '../../common/catalog.js';
import type { Bus } from '../../common/bus.js';
import type { Clock } from '../../common/clock.js';
import type { Logger } from '../../common/logger.js';
import type { Redactor } from '../../common/redaction.js';
import type { Caller } from '../auth/caller.js';
import type { KeyStore } from '../auth/key-store.js';
import type { Call } from '../call/call.js';
import type { EmbedWidths } from '../embeddings/embed-widths.js';
import type { CallListener } from '../call/observe.js';
import type { AgentLiveness } from '../call/worker-beats.js';
import type { GatewayConfig } from '../config.js';
import type { Admission, RateLimiter } from '../rate-limit/rate-limiter.js';
import type { TraceLog } from '../trace-log/trace-log.js';
import type { ChatRouter } from './choose-agents.js';

/** What every chat route shares: the bus, the catalog, the router, the redactor, the logs, the limits. */
export interface ChatDeps {
  bus: Bus;
  catalog: Catalog;
  subjects: Subjects;
  config: GatewayConfig;
  traceLog: TraceLog;
  router: ChatRouter;
  redactor: Redactor;
  /** The API keys (API_KEYS, the keys file): who a presented key is, and what it may call. */
  keys: KeyStore;
  /** Per-key request limits and concurrency caps, shared by every replica (RATE_TIERS_FILE). */
  rateLimiter: RateLimiter;
  /** The gateway's metrics: told about every agent call. */
  calls?: CallListener | undefined;
  /** The workers' beats: a request not yet read by a live worker is waited for (call/worker-beats.ts). */
  workerBeats?: AgentLiveness | undefined;
  /** How wide each embedding agent's vectors came back: what a large batch is cut for (embed-widths.ts). */
  embedWidths?: EmbedWidths | undefined;
  clock?: Clock;
}

/**
 * What a client asks, whatever its wire format (OpenAI, legacy, WebSocket): the request fields
 * of the bus envelope, before ids, routing and privacy are decided. `openai/` maps its bodies
 * to this; `chat/` knows nothing of those formats.
 */
export type ChatInput = Pick<
  ChatRequest,
  | 'messages'
  | 'options'
  | 'max_tokens_param'
  | 'tools'
  | 'tool_choice'
  | 'parallel_tool_calls'
  | 'response_format'
  | 'verbosity'
  | 'service_tier'
  | 'user'
  | 'metadata'
  | 'previous_response_id'
  | 'input_appends'
  | 'opens_with_instructions'
  | 'stream'
  | 'store'
  | 'refusal_deltas'
> & {
  /** The agent the body names, "auto", or undefined (the router chooses). */
  model: string | undefined;
  /** How the request id (the id the client sees) starts: `chatcmpl-` unless a face has its own (`resp_`). */
  idPrefix?: string;
};

/** Who sent a chat request and how, whatever the transport (HTTP, WebSocket). */
export interface ChatOrigin {
  /**
   * What the caller's key proves: its tenant owns the sessions, its scope limits the agents, its flag
   * makes it private.
   */
  caller: Caller;
  log: Logger;
  /** The session to continue (already checked against ID_PATTERN); undefined starts one. */
  sessionToContinue: string | undefined;
  /** The client's W3C traceparent; a new trace starts when it is absent or malformed. */
  traceparent: string | undefined;
  /** The client asked for a fresh answer, not one from the response cache. */
  refreshCache: boolean;
  /** Priority, privacy and timeout hints. */
  hints: RequestHints;
  /** The agent a per-agent URL names (`/agents/<agent>/…`); the body's model is then only a hint. */
  pathAgent?: Agent | undefined;
  /**
   * `log` is this request's own logger (fastify's per-request child), used by nothing else: the
   * request's ids are bound to it instead of to a child of it.
   */
  ownLog?: boolean | undefined;
  /** Aborts when the client leaves while the request is being routed (the classifier may take a while). */
  signal?: SignalLike | undefined;
  /** Taken before the body was read (HTTP); handed over, so startChatCall owns it from here. Else it admits. */
  admission?: Admission | undefined;
  /** Bytes of the request as it arrived, for the tier's `max_input_bytes` when startChatCall admits. */
  inputBytes?: number | undefined;
  /**
   * Requests this one makes once answered, counted with its model calls (all or none, before any
   * model is asked): a chat that asked for audio makes a speech request.
   */
  laterCalls?: number | undefined;
}

/** What a one-answer call (embeddings, speech, transcription) takes of the request that asks it. */
export interface CallOrigin extends Pick<
  ChatOrigin,
  'caller' | 'log' | 'traceparent' | 'hints' | 'pathAgent' | 'admission'
> {
  /**
   * Puts the call's headers (request id, trace context, rate limits) on the response once it has
   * them, so an error answered after that carries them too, as a chat's does.
   */
  announce?: ((headers: Readonly<Record<string, string>>) => void) | undefined;
}

/** Identity shared by every chunk of one answer, whatever the wire format. */
export interface ChatIdentity {
  id: string;
  /** Seconds since the epoch. */
  created: number;
  /** The agent(s) that answer, joined with "+". */
  model: string;
}

/** A chat request on its way: the call to relay and what the response needs. */
export interface StartedChat {
  /** Owns the request's rate-limit slot: freed when the call ends or is closed. */
  call: Call;
  identity: ChatIdentity;
  /** The session id sent with the request; the ack frame names the resolved conversation. */
  sessionId: string;
  /** Response headers every transport sends (request id, trace context, rate limits). */
  headers: Record<string, string>;
  /** The request's logger, bound to its request id, agent(s) and session. */
  log: Logger;
  /** Only local providers may see it (a hint, the key, or a secret found): what is derived from it too. */
  private: boolean;
}

/** What a client may ask about how its request is handled, whatever the transport. */
export interface RequestHints {
  priority?: NonNullable<ChatRequest['priority']>;
  /** Only local providers may see the request. */
  private: boolean;
  /** The client gives up after this long: timeouts shorter than the agent's apply. */
  timeoutMs?: number;
  /**
   * `timeoutMs` is an OpenAI SDK's own (`X-Stainless-Timeout`): how long it waits for the response's
   * headers. A JSON answer's come with the whole answer; a stream's with its first token or
   * heartbeat, after which the SDK reads on without a limit: no deadline for a stream.
   */
  timeoutUntilHeaders?: true;
}
