import type { ChatMessage } from '../../bus-schemas/index.js';
import type { Agent } from '../../common/catalog.js';
import { systemClock } from '../../common/clock.js';
import { mayCall } from '../auth/caller.js';
import { busCall, silenceLimitOf } from '../call/bus-call.js';
import { openCall, type FrameSource } from '../call/call.js';
import { fanOut, type PartResult } from '../call/fan-out.js';
import { observed } from '../call/observe.js';
import { withRetries } from '../call/retry.js';
import { namingContinued } from '../openai/conversation-to-continue.js';
import type { Admission } from '../rate-limit/rate-limiter.js';
import { traceIdOf } from '../trace-log/trace-log.js';
import type { AgentChoice } from './choose-agents.js';
import type { ChatPlan } from './prepare.js';
import type { ChatDeps, ChatOrigin, StartedChat } from './types.js';
import { clientLimitMs } from './client-limit.js';

/** After a cancel, how long a worker has to say how the request ended (stored or not). */
export const CANCEL_GRACE_MS = 2000;

/** What the delivery window leaves for the receipt to reach a worker before it gives up waiting. */
const RECEIPT_TRIP_MS = 1000;

/** The system message that hands an aggregator the specialists' answers (not stored as input). */
function aggregatorBrief(results: PartResult[]): ChatMessage {
  const sections = results
    .map((part) => `## ${part.agent}\n\n${part.error ? `(no answer: ${part.error.message})` : part.content}`)
    .join('\n\n');
  return {
    role: 'system',
    content:
      "Several specialist agents answered the user's last message. Combine their answers into one coherent " +
      `answer: keep every correct point, resolve contradictions, do not mention the agents.\n\n${sections}`,
  };
}

/**
 * The aggregator's messages and whether they open with instructions: the brief goes first, never
 * stored. A Chat Completions worker stores no system message that opens a request; a Responses one
 * stores every input item but the `instructions` (`opens_with_instructions`), so there the brief
 * becomes, or joins, the instructions.
 */
function aggregatorInput(
  envelope: ChatPlan['envelope'],
  results: PartResult[],
): { messages: ChatMessage[]; opensWithInstructions: boolean } {
  const brief = aggregatorBrief(results);
  const { messages } = envelope;
  const responses = envelope.input_appends === true;
  const [instructions, ...rest] = messages;
  if (!responses || envelope.opens_with_instructions !== true || instructions === undefined)
    return { messages: [brief, ...messages], opensWithInstructions: responses };
  return {
    messages: [{ role: 'system', content: `${brief.content}\n\n${instructions.content}` }, ...rest],
    opensWithInstructions: true,
  };
}

/**
 * The last stage: the call, composed top to bottom. Each agent's answer is a bus call, retried
 * (and sent to the agent's fallback) before its first token, and observed for the trace log and
 * the metrics; several agents are fanned out into one answer (or combined by an aggregator);
 * the routing decision goes on the `done` frame. The call owns the rate-limit slot from here.
 */
export function dispatch(
  deps: ChatDeps,
  plan: ChatPlan,
  choice: AgentChoice,
  origin: ChatOrigin,
  admission: Admission,
): StartedChat {
  const { config, subjects, catalog } = deps;
  const clock = deps.clock ?? systemClock;
  const { caller, hints } = origin;
  const names = choice.agents.map((agent) => agent.name).join('+');
  // Our own keys only (never user-controlled ones). A logger of this request alone takes them
  // itself: a pino child per request cost ~1 % of the gateway, for the one request line.
  const fields = {
    requestId: plan.requestId,
    intent: names,
    session: plan.sessionId,
    traceId: traceIdOf(plan.traceparent),
  };
  const log = origin.ownLog ? origin.log : origin.log.child(fields);
  if (origin.ownLog) log.setBindings(fields);
  if (plan.secretsFound.length > 0) {
    log.info({ patterns: plan.secretsFound }, 'secret found in the input: the request stays on local providers');
  }

  /** The request to one agent over the bus, with `timeoutMs` of the deadline left. */
  const askOverBus =
    (requestId: string, messages: ChatMessage[], deadlineSetting: string, opensWithInstructions?: boolean) =>
    (target: Agent, timeoutMs: number, attempt: number) =>
      busCall(
        deps.bus,
        {
          ...plan.envelope,
          request_id: requestId,
          intent: target.name,
          messages,
          ...(opensWithInstructions ? { opens_with_instructions: true } : {}),
          timeout_ms: timeoutMs,
          ...(attempt > 1 ? { attempt } : {}),
        },
        {
          subject: subjects.chat(target.name),
          cancelSubject: subjects.cancel(target.name),
          commitSubject: subjects.memoryCommit,
          idleTimeoutMs: silenceLimitOf(config.heartbeatMs),
          beats: deps.workerBeats,
          deadlineGraceMs: 1000,
          deadlineSetting,
          cancelGraceMs: CANCEL_GRACE_MS,
          auditSubject: config.audit.enabled ? subjects.audit(target.name) : undefined,
          log,
          clock,
        },
      );

  /** One agent's answer: retried, sent to its fallback, observed. */
  const answerBy = (
    agent: Agent,
    requestId: string,
    messages: ChatMessage[],
    opensWithInstructions?: boolean,
  ): FrameSource => {
    // A hint shortens the agent's limits, never lengthens them.
    const ownMs = agent.timeouts.totalMs ?? config.requestTimeoutMs;
    const hintMs = clientLimitMs(hints, plan.envelope.stream === true);
    const totalMs = Math.min(ownMs, hintMs ?? Infinity);
    // Named in the deadline's error, so the client knows what to raise.
    const deadlineSetting =
      totalMs < ownMs
        ? "the client's X-Request-Timeout-Ms or X-Stainless-Timeout"
        : agent.timeouts.totalMs !== undefined
          ? `agent ${agent.name}'s timeouts.total_ms`
          : 'REQUEST_TIMEOUT_MS';
    const firstTokenMs = Math.min(agent.timeouts.firstTokenMs ?? config.firstTokenTimeoutMs, totalMs);
    // A key never reaches an agent outside its scope, not even as another agent's fallback.
    const fallback =
      agent.fallback !== undefined && mayCall(caller, agent.fallback) ? catalog.get(agent.fallback) : undefined;
    const retried = withRetries({
      agent,
      fallback,
      totalMs,
      firstTokenMs,
      attempt: askOverBus(requestId, messages, deadlineSetting, opensWithInstructions),
      onStep: (step, error) =>
        log.warn(
          { step, code: error.code },
          `${step.from} failed before its first token (${error.message}); ` +
            (step.kind === 'retry' ? 'retrying once' : `falling back to ${step.to}`),
        ),
      clock,
    });
    return observed(retried, {
      agent: agent.name,
      sessionId: plan.sessionId,
      listener: deps.calls,
      clock,
      named: (error) => namingContinued(error, { previous_response_id: plan.envelope.previous_response_id }),
      onEnd: (summary) =>
        deps.traceLog.record({
          ts: new Date(plan.now).toISOString(),
          trace_id: traceIdOf(plan.traceparent),
          request_id: requestId,
          session: summary.conversationId,
          agent: agent.name,
          // What answered (a provider of the chain, a fallback's model); the catalog's when none did.
          model: summary.model ?? agent.model,
          prompt: deps.redactor.redact(plan.prompt),
          response_len: summary.responseChars,
          cached: summary.cached,
          status: summary.status,
          ...(summary.errorCode ? { error: summary.errorCode } : {}),
          duration_ms: clock.now() - plan.now,
        }),
    });
  };

  const { messages } = plan.envelope;
  const [first, ...others] = choice.agents;
  const { aggregator } = choice;
  // The first agent's turn carries the completion id, so the id continues the conversation.
  const answer =
    others.length === 0
      ? answerBy(first!, plan.requestId, messages)
      : fanOut(
          choice.agents.map((agent, index) => ({
            agent: agent.name,
            source: answerBy(agent, index === 0 ? plan.requestId : `${plan.requestId}.${agent.name}`, messages),
          })),
          {
            sessionId: plan.sessionId,
            clock,
            ...(aggregator
              ? {
                  aggregate: {
                    agent: aggregator.name,
                    start: (results: PartResult[]) => {
                      const input = aggregatorInput(plan.envelope, results);
                      return answerBy(
                        aggregator,
                        `${plan.requestId}.aggregate`,
                        input.messages,
                        input.opensWithInstructions,
                      );
                    },
                  },
                }
              : {}),
          },
        );
  const { routing } = choice;
  const call = openCall(answer, {
    onEnd: () => admission.release(),
    // The routing decision goes on the `done` frame, where every transport's `meta` is built from.
    mapDone: (done) => ({ ...done, meta: { ...done.meta, routing } }),
    deliveryWindow: { marginMs: RECEIPT_TRIP_MS, clock },
  });
  return {
    call,
    // The response model names the agent(s) that answer: on per-agent routes the body's model is a hint.
    identity: { id: plan.requestId, created: Math.floor(plan.now / 1000), model: names },
    sessionId: plan.sessionId,
    headers: { 'x-request-id': plan.requestId, traceparent: plan.traceparent, ...admission.headers },
    log,
    private: plan.private,
  };
}
