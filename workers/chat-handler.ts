import type { Kysely } from 'kysely';
import {
  AgentbusError,
  decodeChatRequest,
  ID_PATTERN,
  RECEIPT_GRACE_MS,
  type ChatRequest,
} from '../bus-schemas/index.js';
import type { Bus } from '../common/bus.js';
import type { Agent } from '../common/catalog.js';
import { systemClock, type Clock } from '../common/clock.js';
import type { Logger } from '../common/logger.js';
import type { ResponseCache } from './cache/response-cache.js';
import { sendAnswer, withCallIdsOf, type Answer } from './chat/answer.js';
import { cacheKeyOf } from './chat/answer-key.js';
import { askModel, type ModelAnswer } from './chat/ask-model.js';
import { deliverTurn, pendingUntilAfter, type Delivery } from './chat/deliver-turn.js';
import type { InFlight } from './in-flight.js';
import { loadHistory, NO_HISTORY, type History } from './memory/history.js';
import type { MemoryDatabase } from './memory/schema.js';
import { resolveSession } from './memory/sessions.js';
import type { MemoryHealth } from './memory/health.js';
import { isPending, SETTLE_WAIT, settledSession, settledTurn, type SettleWait } from './memory/pending.js';
import { memoryFailure, refuseWhileUnwritable } from './memory-errors.js';
import { buildPrompt, newInputMessages } from './prompt.js';
import { clientSentHistory } from '../common/client-history.js';
import { checkOpeningToolResults } from './chat/opening-tool-results.js';
import type { ProviderChains } from './providers/chain.js';
import type { FinishReason } from './providers/types.js';
import { ReplyStream } from './reply-stream.js';

export interface ChatHandlerDeps {
  bus: Pick<Bus, 'publish' | 'request'>;
  db: Kysely<MemoryDatabase>;
  /** Where memory is, named when it cannot be written: `DATA_DIR (…)` or `DATABASE_URL (…)` (memory/settings.ts). */
  memoryAt?: string | undefined;
  /** How long a request waits for its conversation's turns still being delivered (memory/pending.ts). */
  settleWait?: SettleWait | undefined;
  /** Whether the memory database takes writes (memory/health.ts); absent: assumed to. */
  memoryHealth?: MemoryHealth | undefined;
  /** The worker's providers, tried in each agent's chain order. */
  providers: ProviderChains;
  /** The shared response cache; a disabled or failing cache simply misses. */
  cache: ResponseCache;
  agent: Agent;
  workerId: string;
  log: Logger;
  clock?: Clock;
}

/** A chat request as it arrives from NATS. */
export interface IncomingChatMessage {
  data: Uint8Array;
  reply?: string;
}

/** How a handled request ended, for the service's statistics. */
export type ChatOutcome = { ok: true } | { ok: false; code: string };

const REQUEST_ID = new RegExp(ID_PATTERN);

/** The request id of an envelope that failed validation, when it can still be read; else "unknown". */
function requestIdOf(data: Uint8Array): string {
  try {
    const id = (JSON.parse(new TextDecoder().decode(data)) as { request_id?: unknown }).request_id;
    return typeof id === 'string' && REQUEST_ID.test(id) ? id : 'unknown';
  } catch {
    return 'unknown';
  }
}

const asAgentbusError = (err: unknown) => AgentbusError.from(err, 'worker failed');

/** A provider's error with the stop's own code (e.g. why a generation outran the deadline), else the stop. */
const sameStop = (err: unknown, stop: unknown) =>
  err instanceof AgentbusError && stop instanceof AgentbusError && err.code === stop.code ? err : stop;

/** What a request is asked in, once its session and history are known. */
interface Context {
  session: { id: string; exists: boolean } | undefined;
  history: History;
  private: boolean;
  options: ChatRequest['options'];
  cacheKey: string | undefined;
}

/**
 * The session the envelope continues. A completion id can reach here a moment before its turn
 * is committed (the client sent its next message at once): its turn is waited for, then looked up again.
 */
async function sessionOf(db: Kysely<MemoryDatabase>, envelope: ChatRequest, wait: SettleWait) {
  const { session_id: ref, tenant, create_session: create } = envelope;
  try {
    return await resolveSession(db, ref, tenant, create);
  } catch (err) {
    if (!(err instanceof AgentbusError && err.code === 'session_not_found')) throw err;
    if (await isPending(db, ref)) await settledTurn(db, ref, wait);
    // Once more in any case: the turn may have been committed between the two reads.
    return resolveSession(db, ref, tenant, create);
  }
}

/** The session, its history and privacy, and the cache key; memory failures are memory_unavailable. */
async function contextOf(deps: ChatHandlerDeps, envelope: ChatRequest, signal: AbortSignal): Promise<Context> {
  const { agent, db } = deps;
  // An internal call (the router's classifier) leaves no trace in memory: no session, turn or cache entry.
  const store = envelope.store !== false;
  try {
    // What the client saw last may be committed a moment after it sent this request, or a second
    // later when its worker stalled (the gateway then has another commit it). Heartbeats flow
    // meanwhile; both waits together stay within the settle bound.
    const wait = deps.settleWait ?? SETTLE_WAIT;
    const clock = wait.clock ?? systemClock;
    const deadline = clock.now() + wait.maxWaitMs;
    const left = (): SettleWait => ({ ...wait, signal, maxWaitMs: Math.max(0, deadline - clock.now()) });
    const session = store ? await sessionOf(db, envelope, left()) : undefined;
    if (session?.exists) await settledSession(db, session.id, envelope.request_id, left());
    const history =
      session?.exists && !clientSentHistory(envelope)
        ? await loadHistory(db, session.id, agent.historyTurns, envelope.request_id, envelope.previous_response_id)
        : NO_HISTORY;
    const options = { ...agent.options, ...envelope.options };
    return {
      session,
      history,
      // Privacy sticks to a conversation: earlier private turns replayed as history must not
      // reach a non-local provider now.
      private: envelope.private === true || history.private,
      options,
      cacheKey:
        store && deps.cache.accepts(options) ? cacheKeyOf(envelope, agent, options, history.messages) : undefined,
    };
  } catch (err) {
    throw memoryFailure(err, deps.memoryAt);
  }
}

/**
 * The finish reason as the requester can take it: a gateway from before `content_filter_finish`
 * refuses `content_filter` (its schema's enum), so it gets `stop`, as it always did.
 */
export const wireFinishReason = (reason: FinishReason, envelope: Pick<ChatRequest, 'content_filter_finish'>) =>
  reason === 'content_filter' && envelope.content_filter_finish !== true ? 'stop' : reason;

/** The `done` frame of an answer. */
function doneOf(
  deps: ChatHandlerDeps,
  context: Context,
  answer: Answer & Partial<ModelAnswer>,
  facts: { conversationId: string; cached: boolean; ms: number; envelope: ChatRequest },
) {
  return {
    type: 'done' as const,
    finish_reason: wireFinishReason(answer.finishReason, facts.envelope),
    usage: answer.usage,
    meta: {
      conversation_id: facts.conversationId,
      memory_used: context.history.messages.length > 0,
      cached: facts.cached,
      processing_ms: facts.ms,
      agent: deps.agent.name,
      model: answer.model ?? deps.agent.model,
      worker: deps.workerId,
      ...(answer.provider ? { provider: answer.provider } : {}),
      ...(answer.fallback?.length ? { fallback: answer.fallback } : {}),
    },
  };
}

/**
 * Answers one chat request: ack, the answer (from the response cache, or the model with deltas
 * and heartbeats), then `done` — with protocol v2, the turn is committed only once the
 * requester confirms the client received the whole answer (chat/deliver-turn.ts). Any failure
 * before `done` — including an abort through `inFlight` (the requester cancelled, or the
 * worker is shutting down) — becomes one `error` frame and leaves nothing in memory. Never throws.
 */
export async function handleChatRequest(
  deps: ChatHandlerDeps,
  msg: IncomingChatMessage,
  inFlight: InFlight,
): Promise<ChatOutcome> {
  const { agent, log } = deps;
  if (!msg.reply) {
    log.warn({ agent: agent.name }, 'chat request without a reply subject dropped');
    return { ok: false, code: 'invalid_envelope' };
  }
  const clock = deps.clock ?? systemClock;
  const started = clock.now();
  let envelope: ChatRequest;
  try {
    envelope = decodeChatRequest(msg.data);
    if (envelope.intent !== agent.name) {
      throw new AgentbusError(
        'invalid_envelope',
        `envelope intent "${envelope.intent}" arrived on the subject of agent "${agent.name}"`,
        { param: 'intent' },
      );
    }
  } catch (err) {
    const error = asAgentbusError(err);
    new ReplyStream(deps.bus, msg.reply, requestIdOf(msg.data)).finish({ type: 'error', error: error.toWire() });
    return { ok: false, code: error.code };
  }

  // The trace id part of the validated traceparent, as the gateway logs it: one id joins both logs.
  const reqLog = log.child({
    requestId: envelope.request_id,
    intent: envelope.intent,
    session: envelope.session_id,
    traceId: envelope.traceparent?.split('-')[1]?.toLowerCase() ?? '',
  });
  const out = new ReplyStream(deps.bus, msg.reply, envelope.request_id, deps.clock);
  // Registered before the first await, so a cancel or shutdown can never miss this request. Its
  // signal is the one for every reason to stop: a cancel (requester left, shutdown), the deadline,
  // the requester gone. One AbortController per request, not two and a listener between them:
  // each kept the request alive in V8's young generation (BENCHMARKS.md, "Garbage collection").
  const stop = inFlight.enter(envelope.request_id);
  const deadline = clock.setTimeout(
    () =>
      stop.abort(
        new AgentbusError(
          'deadline_exceeded',
          // What set the timeout (REQUEST_TIMEOUT_MS, a header, the agent's) the gateway adds: it alone knows.
          `The model did not finish within the request timeout of ${envelope.timeout_ms} ms; the worker abandoned it.`,
        ),
      ),
    envelope.timeout_ms,
  );
  // A requester that died (its inbox gone) cannot send the cancel: its heartbeats find out. They
  // start now, not at the ack: an overloaded worker's memory reads may queue past the gateway's
  // silence limit. The first one is due a heartbeat from now, so a worker keeping up never sends one
  // before its ack; the gateway counts an early one as life and passes on none of them.
  out.startHeartbeat(envelope.heartbeat_ms, () =>
    stop.abort(
      new AgentbusError(
        'request_cancelled',
        'The requester is gone (nobody listens on its reply inbox any more); the worker abandoned the answer.',
      ),
    ),
  );
  try {
    // Refused before memory is read and the model asked: while the probe cannot write, each read
    // would wait on the same database, and an answer must not stream as if it could be kept.
    if (envelope.store !== false) refuseWhileUnwritable(deps);
    const context = await contextOf(deps, envelope, stop.signal);
    if (stop.signal.aborted) throw stop.signal.reason;
    // Where memory supplies the conversation, its last turn holds the calls opening results answer.
    if (context.session && deps.agent.historyTurns > 0 && !clientSentHistory(envelope))
      checkOpeningToolResults(envelope.messages, context.history.messages, context.history.cutCalls);
    // "refresh" (Cache-Control: no-cache) skips the lookup; the fresh answer is still cached.
    const hit =
      context.cacheKey !== undefined && envelope.cache !== 'refresh'
        ? await deps.cache.get(context.cacheKey)
        : undefined;
    const conversationId = context.session?.id ?? envelope.session_id;
    const ack = {
      type: 'ack' as const,
      worker: deps.workerId,
      conversation_id: conversationId,
      cached: hit !== undefined,
    };
    // A non-streamed answer's ack travels with its next frame: the generating heartbeat, a
    // heartbeat (due a heartbeat after the request arrived, so never later than that), or the answer.
    if (envelope.stream) out.send(ack);
    else out.hold(ack);

    let answer: Answer & Partial<ModelAnswer>;
    if (hit) {
      answer = {
        content: hit.content,
        // Each answer's calls are new calls: the cached ids would repeat across responses and conversations.
        toolCalls: withCallIdsOf(envelope.request_id, hit.tool_calls ?? []),
        finishReason: hit.finish_reason,
        usage: hit.usage,
        model: hit.model,
      };
      sendAnswer((frame) => out.send(frame), answer);
    } else {
      const { messages, storedHistory } = buildPrompt(agent, context.history.messages, envelope);
      const prompt = { messages, storedHistory, options: context.options, private: context.private };
      answer = await askModel(deps, envelope, prompt, stop.signal, out, reqLog);
    }
    // A cancel or deadline that lands after the last token still means nobody takes this answer.
    if (stop.signal.aborted) throw stop.signal.reason;

    const model = answer.model ?? agent.model;
    const processingMs = clock.now() - started;
    const facts = { conversationId, cached: hit !== undefined, ms: processingMs, envelope };
    const done = doneOf(deps, context, answer, facts);
    const { session, cacheKey } = context;
    const receiptWaitMs = Math.max(0, envelope.timeout_ms - processingMs) + RECEIPT_GRACE_MS;
    const delivery: Delivery = await deliverTurn(
      {
        db: deps.db,
        memoryAt: deps.memoryAt,
        health: deps.memoryHealth,
        envelope,
        turn: session && {
          requestId: envelope.request_id,
          sessionId: session.id,
          tenant: envelope.tenant,
          agent: agent.name,
          model,
          inputMessages: newInputMessages(envelope),
          assistantResponse: answer.content,
          toolCalls: answer.toolCalls,
          finishReason: answer.finishReason,
          cached: hit !== undefined,
          promptTokens: answer.usage.prompt_tokens,
          completionTokens: answer.usage.completion_tokens,
          durationMs: processingMs,
          endUser: envelope.user,
          metadata: envelope.metadata,
          // The effective privacy, not the envelope's: this answer may repeat what the private
          // history said, and must not outlive that history's window as a way out.
          private: context.private,
          attempt: envelope.attempt,
          requestedAt: envelope.created_at,
          refusal: answer.refusal,
          pendingUntil: envelope.v >= 2 ? pendingUntilAfter(receiptWaitMs) : undefined,
        },
        done,
        receiptWaitMs,
        // Only a delivered answer is offered to later requests; `done` never waits for it.
        onCommitted: () => {
          // A filtered or refused answer is the upstream's verdict of the moment: ask it again.
          if (cacheKey === undefined || hit || answer.finishReason === 'content_filter' || answer.refusal !== undefined)
            return;
          const finish_reason = answer.finishReason;
          const cached = { content: answer.content, tool_calls: answer.toolCalls, finish_reason };
          deps.cache
            .put(cacheKey, { ...cached, usage: answer.usage, model, stored_at: clock.now() })
            .catch((err: unknown) => reqLog.warn({ err }, 'response cache write failed'));
        },
        alone: () => inFlight.size <= 1,
        log: reqLog,
      },
      out,
    );
    const ms = processingMs;
    const fields = { ms, tokens: answer.usage.completion_tokens, cached: hit !== undefined, provider: answer.provider };
    if (delivery.stored === 'discarded') {
      reqLog.info({ ...fields, why: delivery.why }, 'answer not delivered to the client: the turn was discarded');
      return { ok: false, code: 'not_delivered' };
    }
    if (delivery.stored === 'pending') {
      reqLog.warn({ ...fields, why: delivery.why }, 'answer delivered; its turn is left pending for another worker');
      return { ok: false, code: 'memory_unavailable' };
    }
    reqLog.info(
      { ...fields, memoryUsed: context.history.messages.length > 0, stored: delivery.stored },
      'chat request answered',
    );
    return { ok: true };
  } catch (err) {
    // Once stopped (cancel, deadline, shutdown), that is what happened, whatever a provider
    // threw while being aborted — in the provider's words when it explains that same stop.
    const error = asAgentbusError(stop.signal.aborted ? sameStop(err, stop.signal.reason) : err);
    const level = error.code === 'internal_error' ? 'error' : error.code === 'request_cancelled' ? 'info' : 'warn';
    reqLog[level]({ code: error.code, err: error.cause ?? error }, error.message);
    if (!out.finish({ type: 'error', error: error.toWire() }))
      reqLog.warn('could not publish the error frame (NATS connection gone)');
    return { ok: false, code: error.code };
  } finally {
    clock.clearTimeout(deadline);
    stop.leave();
  }
}
