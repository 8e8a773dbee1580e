import { randomBytes } from 'node:crypto';
import {
  AgentbusError,
  PROTOCOL_VERSION,
  type ChatRequest,
  type ErrorCode,
  type Subjects,
} from '../../bus-schemas/index.js';
import type { Agent } from '../../common/catalog.js';
import type { Bus } from '../../common/bus.js';
import { LightSignal, type SignalLike } from '../../common/light-signal.js';
import { busCall, silenceLimitOf } from '../call/bus-call.js';
import type { AgentLiveness } from '../call/worker-beats.js';
import { onAbort } from '../call/call.js';
import { collectAnswer } from '../call/collect-answer.js';
import { agentNamedIn, classifierMessages } from './classifier-prompt.js';

/** What the classifier needs from the gateway: the bus and who its calls run as. */
export interface ClassifierDeps {
  bus: Bus;
  subjects: Subjects;
  /** Tenant id the classifier's calls carry: the gateway's own, since they store nothing. */
  tenant: string;
  /** HEARTBEAT_MS: how often the worker reports it is alive. */
  heartbeatMs: number;
  /** The workers' beats (call/worker-beats.ts); absent, silence alone decides. */
  beats?: AgentLiveness | undefined;
}

export interface ClassifyRequest {
  text: string;
  /** The agent whose model classifies. */
  agent: Agent;
  /** The agents it may choose from. */
  candidates: readonly Agent[];
  timeoutMs: number;
  /** The caller went away: stop, and tell the worker to stop. */
  signal?: SignalLike | undefined;
  /** The request is private: so is its classification (only local providers may see it). */
  private?: boolean | undefined;
}

/** How a classification ended; anything but `agent` leaves the choice to the default agent. */
export type ClassifierOutcome =
  | { kind: 'agent'; agent: string }
  | { kind: 'no_agent'; answer: string }
  | { kind: 'timeout' }
  | { kind: 'error'; code: ErrorCode; message: string };

/** Asks an agent which agent should answer; rejects only with `request_cancelled` when `signal` aborts. */
export type Classify = (request: ClassifyRequest) => Promise<ClassifierOutcome>;

const randomId = () => randomBytes(12).toString('base64url');

/**
 * The envelope of one classification: deterministic, short, and `store: false` so the worker
 * reads no history and writes no session, turn or cache entry for it.
 */
export function classifierEnvelope(
  request: ClassifyRequest,
  deps: Pick<ClassifierDeps, 'tenant' | 'heartbeatMs'>,
  now = Date.now(),
): ChatRequest {
  return {
    v: PROTOCOL_VERSION,
    request_id: `route-${randomId()}`,
    // A fresh id each time: with store:false nothing is written under it, and a worker that
    // looked it up anyway would find nothing belonging to anyone.
    session_id: `route_${randomId()}`,
    create_session: true,
    intent: request.agent.name,
    model: request.agent.name,
    messages: classifierMessages(request.candidates, request.text),
    options: { temperature: 0, max_tokens: 16 },
    ...(request.private ? { private: true } : {}),
    store: false,
    stream: false,
    timeout_ms: request.timeoutMs,
    heartbeat_ms: deps.heartbeatMs,
    tenant: deps.tenant,
    created_at: now,
  };
}

// A WebSocket `cancel` aborts routing as much as a client leaving does: the message fits both.
const CANCELLED_WHILE_ROUTING =
  'The request was cancelled before routing finished: the client cancelled it or went away.';

/** A classifier that calls an agent over the bus, bounded by the request's `timeoutMs`. */
export function createClassifier(deps: ClassifierDeps): Classify {
  return async (request) => {
    if (request.signal?.aborted) throw new AgentbusError('request_cancelled', CANCELLED_WHILE_ROUTING);
    const envelope = classifierEnvelope(request, deps);
    // Closed (the worker told to abort while we stop listening at once) when the client leaves
    // or the classifier's own time is up, whichever comes first.
    const timeout = AbortSignal.timeout(request.timeoutMs);
    const closed = new LightSignal();
    onAbort(timeout, () => closed.abort(timeout.reason));
    if (request.signal) onAbort(request.signal, () => closed.abort(request.signal?.reason));
    const frames = busCall(deps.bus, envelope, {
      subject: deps.subjects.chat(request.agent.name),
      cancelSubject: deps.subjects.cancel(request.agent.name),
      idleTimeoutMs: silenceLimitOf(deps.heartbeatMs),
      beats: deps.beats,
      // The classifier's own timeout ends the call first; this only backs it up.
      deadlineGraceMs: 1000,
      cancelGraceMs: 0,
    })({ closed, cancelled: new LightSignal(), delivered: new LightSignal() });
    try {
      const { content } = await collectAnswer(frames);
      const agent = agentNamedIn(
        content,
        request.candidates.map((candidate) => candidate.name),
      );
      return agent === undefined ? { kind: 'no_agent', answer: content } : { kind: 'agent', agent };
    } catch (err) {
      if (request.signal?.aborted) {
        throw new AgentbusError('request_cancelled', CANCELLED_WHILE_ROUTING);
      }
      if (timeout.aborted) return { kind: 'timeout' };
      const error = AgentbusError.from(err);
      return { kind: 'error', code: error.code, message: error.message };
    }
  };
}
