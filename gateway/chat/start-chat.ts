import { randomBytesPooled as randomBytes } from '../../common/random-bytes.js';
import type { NatsConnection } from '@nats-io/transport-node';
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import {
  AgentbusError,
  ID_PATTERN,
  TRACEPARENT_PATTERN,
  type ChatMessage,
  type ReplyFrame,
  type Routing,
  type Subjects,
} from '../../bus-schemas/index.js';
import type { Agent, Catalog } from '../../common/catalog.js';
import type { Redactor } from '../../common/redaction.js';
import { mayCall, type Caller } from '../auth/caller.js';
import type { KeyStore } from '../auth/key-store.js';
import { callAgent, withFrames, type AgentCall } from '../bus/agent-call.js';
import { refusalOf, type Admission, type RateLimiter } from '../rate-limit/rate-limiter.js';
import type { GatewayConfig } from '../config.js';
import type { ChatBody } from '../openai/chat-completion-request.schema.js';
import type { CompletionIdentity } from '../openai/responses.js';
import { toEnvelope } from '../openai/to-envelope.js';
import { checkInputLimits } from '../openai/input-limits.js';
import { rejectUnsupportedParameters } from '../openai/unsupported-parameters.js';
import { traceIdOf, type TraceLog } from '../trace-log/trace-log.js';
import { AUTO_MODEL, chooseAgents, namedChoice, type AgentChoice, type ChatRouter } from './choose-agents.js';
import { withinScope } from './agent-scope-check.js';
import { fanOut, type PartResult } from './fan-out.js';
import { observeCall } from './observe-call.js';
import { hintsFromHeaders, type RequestHints } from './request-hints.js';
import { callWithRetries } from './resilient-call.js';

/** What every chat route shares: the bus, the catalog, the router, the redactor and the trace log. */
export interface ChatDeps {
  nc: NatsConnection;
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
}

/** A chat request on its way: the reply frames to relay and what the response needs. */
export interface StartedChat {
  call: AgentCall;
  identity: CompletionIdentity;
  /** The session id sent with the request; the ack frame names the resolved conversation. */
  sessionId: string;
  /** Response headers every route sends (request id, trace context). */
  headers: Record<string, string>;
  /** The request's logger, bound to its request id, agent(s) and session. */
  log: FastifyBaseLogger;
  /**
   * Ends the request's concurrency lease. Iterating `call` to its end does it already; the
   * transport calls this too when its response ends, in case the call was never read.
   */
  release(): Promise<void>;
}

/** Who sent a chat request and how, whatever the transport (HTTP, WebSocket). */
export interface ChatOrigin {
  /** What the caller's API key proves: its tenant owns the sessions, its scope limits the agents, its flag makes it private. */
  caller: Caller;
  log: FastifyBaseLogger;
  /** The session to continue (already checked against ID_PATTERN); undefined starts one. */
  sessionToContinue: string | undefined;
  /** The client's W3C traceparent; a new trace starts when it is absent or malformed. */
  traceparent: string | undefined;
  /** The client asked for a fresh answer, not one from the response cache. */
  refreshCache: boolean;
  /** Priority, privacy and timeout hints. */
  hints: RequestHints;
  /** Aborts when the client leaves while the request is being routed (the classifier may take a while). */
  signal?: AbortSignal | undefined;
}

export type { ChatBody };

const SESSION_ID = new RegExp(ID_PATTERN);
const TRACEPARENT = new RegExp(TRACEPARENT_PATTERN);
const randomId = (bytes: number) => randomBytes(bytes).toString('base64url');

/**
 * The session to continue: `X-Session-ID`, or the legacy routes' body field; undefined starts a
 * new conversation. Both at once must agree.
 */
function sessionToContinue(request: FastifyRequest, fromBody: string | undefined): string | undefined {
  const header = request.headers['x-session-id'];
  if (header !== undefined && (typeof header !== 'string' || !SESSION_ID.test(header))) {
    throw new AgentbusError(
      'invalid_request',
      'X-Session-ID must be 1-128 characters of letters, digits, ".", "_", ":" or "-".',
      { param: 'X-Session-ID' },
    );
  }
  if (header !== undefined && fromBody !== undefined && header !== fromBody) {
    throw new AgentbusError(
      'invalid_request',
      "X-Session-ID and the body's session_id name different sessions; send one.",
      { param: 'session_id' },
    );
  }
  return header ?? fromBody;
}

/** Cache-Control: no-cache (or no-store) asks for a fresh answer. */
function wantsFreshAnswer(request: FastifyRequest): boolean {
  const header = request.headers['cache-control'];
  return typeof header === 'string' && /(^|,)\s*no-(cache|store)\s*(,|$)/i.test(header);
}

/** The text of the last message with one of `roles`, or "". */
function lastText(messages: readonly ChatMessage[], roles: ReadonlyArray<ChatMessage['role']>): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i]!;
    if (roles.includes(message.role)) return message.content;
  }
  return '';
}

/** The system message that hands an aggregator the specialists' answers (not stored as input). */
function aggregatorBrief(results: PartResult[]): ChatMessage {
  const sections = results
    .map((part) => `## ${part.agent}\n\n${part.error ? `(no answer: ${part.error.message})` : part.content}`)
    .join('\n\n');
  return {
    role: 'system',
    content: `Several specialist agents answered the user's last message. Combine their answers into one coherent answer: keep every correct point, resolve contradictions, do not mention the agents.\n\n${sections}`,
  };
}

/** Frees the request's concurrency lease once its frames end, before the transport ends the response. */
function releasedAtEnd(call: AgentCall, admission: Admission): AgentCall {
  return withFrames(call, async function* (frames): AsyncGenerator<ReplyFrame> {
    try {
      for await (const frame of frames) {
        // Before the terminal frame is relayed (transports end the response on it), so a client
        // that sends its next request as soon as this one ends finds the slot free.
        if (frame.type === 'done' || frame.type === 'error') await admission.release();
        yield frame;
      }
    } finally {
      await admission.release();
    }
  });
}

// A lease outlives any answer (retries share the deadline; a fan-out's aggregator comes after
// its parts), so it lapses on its own only when its gateway is gone.
const leaseMsFor = (config: GatewayConfig) => 2 * config.requestTimeoutMs + 5_000;

/** Adds the routing decision to the `done` frame, where every transport's `meta` is built from. */
function withRouting(call: AgentCall, routing: Routing): AgentCall {
  return withFrames(call, async function* (frames): AsyncGenerator<ReplyFrame> {
    for await (const frame of frames)
      yield frame.type === 'done' ? { ...frame, meta: { ...frame.meta, routing } } : frame;
  });
}

/**
 * Validates a chat body, chooses the agent(s), and publishes the request to each over the bus
 * with retries and fallback (several agents answer as one call with a section each). Every
 * route and transport (OpenAI, legacy, per-agent, WebSocket) goes through here, so routing,
 * sessions, memory, cache and trace logging are the same whatever the wire format. A trace
 * line per agent is written when the caller has finished reading the call.
 */
export async function startChatCall(
  deps: ChatDeps,
  body: ChatBody,
  origin: ChatOrigin,
  options: { pathAgent?: Agent | undefined; stream: boolean },
): Promise<StartedChat> {
  const { catalog, config, redactor } = deps;
  rejectUnsupportedParameters(body);
  checkInputLimits(body, config.inputLimits);
  const traceparent =
    origin.traceparent !== undefined && TRACEPARENT.test(origin.traceparent)
      ? origin.traceparent
      : `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
  const now = Date.now();
  const requestId = `chatcmpl-${randomId(18)}`;
  const sessionId = origin.sessionToContinue ?? `conv_${randomId(18)}`;
  const { hints } = origin;
  const base = toEnvelope(
    { ...body, model: body.model ?? options.pathAgent?.name ?? AUTO_MODEL, stream: options.stream },
    {
      requestId,
      sessionId,
      createSession: origin.sessionToContinue === undefined,
      intent: AUTO_MODEL,
      tenant: origin.caller.tenant,
      now,
      timeoutMs: config.requestTimeoutMs,
      heartbeatMs: config.heartbeatMs,
      traceparent,
      refreshCache: origin.refreshCache,
    },
  );
  // The trace log shows what the model answers (a tool result, too); the router reads what the
  // user asked, so a tool follow-up is routed like the question that started it.
  const prompt = lastText(base.messages, ['user', 'tool']);
  const secretsFound = config.secretsMakePrivate
    ? redactor.detect(base.messages.map((message) => message.content).join('\n'))
    : [];
  const isPrivate = hints.private || origin.caller.private || secretsFound.length > 0;
  if (isPrivate) base.private = true;
  if (hints.priority !== undefined) base.priority = hints.priority;

  // Scopes are checked here, on the choice, so every route and transport refuses the same way.
  // An agent the request names is checked before admission: an unknown or out-of-scope one
  // (404, 403) spends none of the key's budget.
  const { caller } = origin;
  const named = namedChoice(catalog, body.model, options.pathAgent, caller);
  const namedInScope = named === undefined ? undefined : withinScope(caller, named, catalog.names);
  // Before routing: the classifier publishes too, and a refused request publishes nothing.
  const admission = await deps.rateLimiter.admit({
    tenant: caller.tenant,
    keyName: caller.name,
    tier: caller.tier,
    requestId,
    leaseUntil: now + leaseMsFor(config),
  });
  let choice: AgentChoice;
  try {
    choice =
      namedInScope ??
      withinScope(
        caller,
        await chooseAgents(catalog, deps.router, body.model, options.pathAgent, {
          text: lastText(base.messages, ['user']),
          private: isPrivate,
          hasTools: base.tools !== undefined,
          caller,
          signal: origin.signal,
        }),
        catalog.names,
      );
  } catch (err) {
    await admission.release();
    throw err;
  }
  // Gone while the router decided: nothing is published, so nothing is answered for nobody.
  if (origin.signal?.aborted) {
    await admission.release();
    throw new AgentbusError('request_cancelled', 'The client went away while the request was being routed.');
  }
  const names = choice.agents.map((agent) => agent.name).join('+');
  // Our own keys only (never user-controlled ones).
  const log = origin.log.child({ requestId, intent: names, session: sessionId, traceId: traceIdOf(traceparent) });
  if (secretsFound.length > 0)
    log.info({ patterns: secretsFound }, 'secret found in the input: the request stays on local providers');

  // A hint shortens the agent's limits, never lengthens them.
  const limitsOf = (agent: Agent) => {
    const totalMs = Math.min(agent.timeouts.totalMs ?? config.requestTimeoutMs, hints.timeoutMs ?? Infinity);
    return { totalMs, firstTokenMs: Math.min(agent.timeouts.firstTokenMs ?? config.firstTokenTimeoutMs, totalMs) };
  };
  /** One agent's answer, with retries and its fallback, trace-logged when it ends. */
  const answerBy = (agent: Agent, id: string, messages: ChatMessage[]): AgentCall => {
    const call = callWithRetries({
      agent,
      // A key never reaches an agent outside its scope, not even as another agent's fallback.
      fallback:
        agent.fallback === undefined || !mayCall(origin.caller, agent.fallback)
          ? undefined
          : catalog.get(agent.fallback),
      ...limitsOf(agent),
      publish: (target, timeoutMs) =>
        callAgent(
          deps.nc,
          { ...base, request_id: id, intent: target.name, messages, timeout_ms: timeoutMs },
          {
            subject: deps.subjects.chat(target.name),
            cancelSubject: deps.subjects.cancel,
            idleTimeoutMs: Math.max(3 * config.heartbeatMs, 1000),
            deadlineGraceMs: 1000,
            auditSubject: config.audit.enabled ? deps.subjects.audit(target.name) : undefined,
          },
        ),
      onStep: (step, error) =>
        log.warn(
          { step, code: error.code },
          `${step.from} failed before its first token (${error.message}); ${step.kind === 'retry' ? 'retrying once' : `falling back to ${step.to}`}`,
        ),
    });
    return observeCall(
      call,
      sessionId,
      (summary) => {
        deps.traceLog.record({
          ts: new Date(now).toISOString(),
          trace_id: traceIdOf(traceparent),
          request_id: id,
          session: summary.conversationId,
          agent: agent.name,
          model: agent.model,
          prompt: redactor.redact(prompt),
          response_len: summary.responseChars,
          cached: summary.cached,
          status: summary.status,
          ...(summary.errorCode ? { error: summary.errorCode } : {}),
          duration_ms: Date.now() - now,
        });
      },
      agent.name,
    );
  };

  const [first, ...others] = choice.agents;
  // The first agent's turn carries the completion id, so the id continues the conversation.
  const call =
    others.length === 0
      ? answerBy(first!, requestId, base.messages)
      : fanOut(
          choice.agents.map((agent, index) => ({
            agent: agent.name,
            call: answerBy(agent, index === 0 ? requestId : `${requestId}.${agent.name}`, base.messages),
          })),
          {
            sessionId,
            ...(choice.aggregator
              ? {
                  aggregate: {
                    agent: choice.aggregator.name,
                    start: (results: PartResult[]) =>
                      answerBy(choice.aggregator!, `${requestId}.aggregate`, [
                        aggregatorBrief(results),
                        ...base.messages,
                      ]),
                  },
                }
              : {}),
          },
        );
  // The response model names the agent(s) that answer: on per-agent routes the body's model is a hint.
  const identity = { id: requestId, created: Math.floor(now / 1000), model: names };
  const headers = { 'x-request-id': requestId, traceparent };
  return {
    call: releasedAtEnd(withRouting(call, choice.routing), admission),
    identity,
    sessionId,
    headers: { ...headers, ...admission.headers },
    log,
    release: admission.release,
  };
}

/**
 * {@link startChatCall} for an HTTP route: the session comes from `X-Session-ID` (or the legacy
 * body field), trace context from `traceparent`, a cache refresh from `Cache-Control`.
 */
export async function startChat(
  deps: ChatDeps,
  request: FastifyRequest,
  reply: FastifyReply,
  body: ChatBody,
  options: { pathAgent?: Agent | undefined; stream: boolean; sessionId?: string | undefined },
): Promise<StartedChat> {
  const incomingTrace = request.headers['traceparent'];
  // Routing may wait for the classifier: a client leaving meanwhile must stop it, and everything after.
  const left = new AbortController();
  const onClose = () => {
    if (!reply.raw.writableFinished) left.abort();
  };
  reply.raw.once('close', onClose);
  const chat = await startChatCall(
    deps,
    body,
    {
      caller: request.caller,
      log: request.log,
      sessionToContinue: sessionToContinue(request, options.sessionId),
      traceparent: typeof incomingTrace === 'string' ? incomingTrace : undefined,
      refreshCache: wantsFreshAnswer(request),
      hints: hintsFromHeaders(request.headers),
      signal: left.signal,
    },
    options,
  )
    .catch((err: unknown) => {
      // A 429 says when to come back: Retry-After and the rate-limit headers.
      const refusal = refusalOf(err);
      if (refusal) reply.headers(refusal.headers);
      throw err;
    })
    .finally(() => reply.raw.off('close', onClose));
  // However the response ends (finished, failed, client gone), the key's slot is free again.
  reply.raw.once('close', () => void chat.release());
  // Both loggers the handlers use carry the request's ids from here on.
  request.log = reply.log = chat.log;
  // On the reply now, so an error answered before any streaming starts carries them too.
  reply.headers(chat.headers);
  return chat;
}
