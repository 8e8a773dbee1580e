import { randomBytes } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import { AgentbusError, ID_PATTERN, TRACEPARENT_PATTERN, type ChatRequest, type Subjects } from '../../bus-schemas/index.js';
import type { Agent, Catalog } from '../../common/catalog.js';
import { callAgent, type AgentCall } from '../bus/agent-call.js';
import type { GatewayConfig } from '../config.js';
import type { ChatBody } from '../openai/chat-completion-request.schema.js';
import type { CompletionIdentity } from '../openai/responses.js';
import { toEnvelope } from '../openai/to-envelope.js';
import { rejectUnsupportedParameters } from '../openai/unsupported-parameters.js';
import { traceIdOf, type TraceLog } from '../trace-log/trace-log.js';
import { observeCall } from './observe-call.js';

/** What every chat route shares: the bus, the catalog and the trace log. */
export interface ChatDeps {
  nc: NatsConnection;
  catalog: Catalog;
  subjects: Subjects;
  config: GatewayConfig;
  traceLog: TraceLog;
}

/** A chat request on its way: the reply frames to relay and what the response needs. */
export interface StartedChat {
  call: AgentCall;
  envelope: ChatRequest;
  identity: CompletionIdentity;
  agent: Agent;
  /** The session id sent with the request; the ack frame names the resolved conversation. */
  sessionId: string;
  /** Response headers every route sends (request id, trace context). */
  headers: Record<string, string>;
  /** The request's logger, bound to its request id, agent and session. */
  log: FastifyBaseLogger;
}

/** Who sent a chat request and how, whatever the transport (HTTP, WebSocket). */
export interface ChatOrigin {
  /** Tenant of the caller's API key: owner of its sessions. */
  tenant: string;
  log: FastifyBaseLogger;
  /** The session to continue (already checked against ID_PATTERN); undefined starts one. */
  sessionToContinue: string | undefined;
  /** The client's W3C traceparent; a new trace starts when it is absent or malformed. */
  traceparent: string | undefined;
  /** The client asked for a fresh answer, not one from the response cache. */
  refreshCache: boolean;
}

export type { ChatBody };

const SESSION_ID = new RegExp(ID_PATTERN);
const TRACEPARENT = new RegExp(TRACEPARENT_PATTERN);
const randomId = (bytes: number) => randomBytes(bytes).toString('base64url');

/** The agent that answers: the path's on per-agent routes (the body's model is then only a hint), else the body's model. */
function resolveAgent(catalog: Catalog, body: ChatBody, pathAgent: Agent | undefined): Agent {
  if (pathAgent) return pathAgent;
  const agent = body.model === undefined ? undefined : catalog.get(body.model);
  // Only the legacy routes can get here without a model (their schemas leave it optional).
  const problem = body.model === undefined ? 'No agent was named: send "model" (on /query, "agent").' : `The model "${body.model}" does not exist.`;
  if (!agent) throw new AgentbusError('model_not_found', `${problem} Known agents: ${catalog.names.join(', ')}.`, { param: 'model' });
  return agent;
}

/**
 * The session to continue: `X-Session-ID`, or the legacy routes' body field; undefined starts a
 * new conversation. Both at once must agree.
 */
function sessionToContinue(request: FastifyRequest, fromBody: string | undefined): string | undefined {
  const header = request.headers['x-session-id'];
  if (header !== undefined && (typeof header !== 'string' || !SESSION_ID.test(header))) {
    throw new AgentbusError('invalid_request', 'X-Session-ID must be 1-128 characters of letters, digits, ".", "_", ":" or "-".', { param: 'X-Session-ID' });
  }
  if (header !== undefined && fromBody !== undefined && header !== fromBody) {
    throw new AgentbusError('invalid_request', 'X-Session-ID and the body\'s session_id name different sessions; send one.', { param: 'session_id' });
  }
  return header ?? fromBody;
}

/** Cache-Control: no-cache (or no-store) asks for a fresh answer. */
function wantsFreshAnswer(request: FastifyRequest): boolean {
  const header = request.headers['cache-control'];
  return typeof header === 'string' && /(^|,)\s*no-(cache|store)\s*(,|$)/i.test(header);
}

/** The last user message's text: what the trace log shows as the prompt. */
function promptOf(envelope: ChatRequest): string {
  for (let i = envelope.messages.length - 1; i >= 0; i--) {
    const message = envelope.messages[i]!;
    if (message.role === 'user' || message.role === 'tool') return message.content;
  }
  return '';
}

/**
 * Validates a chat body, builds its envelope and publishes it to the agent's subject. Every
 * route and transport (OpenAI, legacy, per-agent, WebSocket) goes through here, so sessions,
 * memory, cache and trace logging are the same whatever the wire format. The trace line is
 * written when the caller has finished reading the call.
 */
export function startChatCall(deps: ChatDeps, body: ChatBody, origin: ChatOrigin, options: { pathAgent?: Agent | undefined; stream: boolean }): StartedChat {
  const { catalog, config } = deps;
  rejectUnsupportedParameters(body);
  const agent = resolveAgent(catalog, body, options.pathAgent);
  const traceparent = origin.traceparent !== undefined && TRACEPARENT.test(origin.traceparent) ? origin.traceparent : `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
  const now = Date.now();
  const requestId = `chatcmpl-${randomId(18)}`;
  const sessionId = origin.sessionToContinue ?? `conv_${randomId(18)}`;
  const envelope = toEnvelope({ ...body, model: body.model ?? agent.name, stream: options.stream }, {
    requestId,
    sessionId,
    createSession: origin.sessionToContinue === undefined,
    intent: agent.name,
    tenant: origin.tenant,
    now,
    timeoutMs: config.requestTimeoutMs,
    heartbeatMs: config.heartbeatMs,
    traceparent,
    refreshCache: origin.refreshCache,
  });
  // Our own keys only (never user-controlled ones).
  const log = origin.log.child({ requestId, intent: agent.name, session: sessionId });

  const raw = callAgent(deps.nc, envelope, {
    subject: deps.subjects.chat(agent.name),
    cancelSubject: deps.subjects.cancel,
    idleTimeoutMs: Math.max(3 * config.heartbeatMs, 1000),
    deadlineGraceMs: 1000,
  });
  const call = observeCall(raw, sessionId, (summary) => {
    deps.traceLog.record({
      ts: new Date(now).toISOString(),
      trace_id: traceIdOf(traceparent),
      request_id: requestId,
      session: summary.conversationId,
      agent: agent.name,
      model: agent.model,
      prompt: promptOf(envelope),
      response_len: summary.responseChars,
      cached: summary.cached,
      status: summary.status,
      ...(summary.errorCode ? { error: summary.errorCode } : {}),
      duration_ms: Date.now() - now,
    });
  });
  // The response model is the agent that answered: on per-agent routes the body's model is a hint.
  const identity = { id: requestId, created: Math.floor(now / 1000), model: agent.name };
  const headers = { 'x-request-id': requestId, traceparent };
  return { call, envelope, identity, agent, sessionId, headers, log };
}

/**
 * {@link startChatCall} for an HTTP route: the session comes from `X-Session-ID` (or the legacy
 * body field), trace context from `traceparent`, a cache refresh from `Cache-Control`.
 */
export function startChat(deps: ChatDeps, request: FastifyRequest, reply: FastifyReply, body: ChatBody, options: { pathAgent?: Agent | undefined; stream: boolean; sessionId?: string | undefined }): StartedChat {
  const incomingTrace = request.headers['traceparent'];
  const chat = startChatCall(deps, body, {
    tenant: request.tenant,
    log: request.log,
    sessionToContinue: sessionToContinue(request, options.sessionId),
    traceparent: typeof incomingTrace === 'string' ? incomingTrace : undefined,
    refreshCache: wantsFreshAnswer(request),
  }, options);
  // Both loggers the handlers use carry the request's ids from here on.
  request.log = reply.log = chat.log;
  // On the reply now, so an error answered before any streaming starts carries them too.
  reply.headers(chat.headers);
  return chat;
}
