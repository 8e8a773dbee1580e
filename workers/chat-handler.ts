import type { Kysely } from 'kysely';
import type { Bus } from '../common/bus.js';
import { systemClock, type Clock } from '../common/clock.js';
import {
  AgentbusError,
  decodeChatRequest,
  ID_PATTERN,
  type ChatMessage,
  type ChatRequest,
  type SamplingOptions,
  type ToolCall,
  type UnsequencedFrame,
} from '../bus-schemas/index.js';
import type { Agent } from '../common/catalog.js';
import type { Logger } from '../common/logger.js';
import type { MemoryDatabase } from './memory/schema.js';
import { resolveSession } from './memory/sessions.js';
import { loadHistory, NO_HISTORY, recordTurn, type History } from './memory/turns.js';
import type { InFlight } from './in-flight.js';
import { buildPrompt, clientSentHistory, newInputMessages } from './prompt.js';
import { sendAnswer, sendToolCall, withCallId, type Answer } from './answer.js';
import { cacheKey } from './cache/cache-key.js';
import type { ResponseCache } from './cache/response-cache.js';
import type { OpenedAnswer, ProviderChains } from './providers/chain.js';
import { ReplyStream } from './reply-stream.js';

export interface ChatHandlerDeps {
  bus: Pick<Bus, 'publish'>;
  db: Kysely<MemoryDatabase>;
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

/** Everything that decides the answer, as the cache key sees it. */
function cacheKeyOf(
  envelope: ChatRequest,
  agent: Agent,
  options: SamplingOptions,
  history: readonly ChatMessage[],
): string {
  return cacheKey({
    tenant: envelope.tenant,
    agent: agent.name,
    model: agent.model,
    options,
    messages: envelope.messages,
    // History is part of what the model sees: the same question later in a conversation is
    // a different request.
    ...(history.length > 0 ? { history } : {}),
    ...(envelope.tools
      ? { tools: { definitions: envelope.tools, parallel: envelope.parallel_tool_calls ?? true } }
      : {}),
    ...(envelope.tool_choice !== undefined ? { tool_choice: envelope.tool_choice } : {}),
    ...(envelope.response_format ? { response_format: envelope.response_format } : {}),
  });
}

/** An answer from the model, with which provider of the chain gave it. */
type ModelAnswer = Answer & Pick<OpenedAnswer, 'provider' | 'model' | 'fallback'>;

/** What the model is asked, beyond the envelope's own fields. */
interface ModelPrompt {
  messages: ChatMessage[];
  options: SamplingOptions;
  /** Only local providers may see it. */
  private: boolean;
}

/**
 * Calls the model through the agent's provider chain, relaying its output as it comes when the
 * client streams (else all at once at the end). With `parallel_tool_calls: false`, calls after
 * the first are dropped.
 */
async function askModel(
  deps: ChatHandlerDeps,
  envelope: ChatRequest,
  prompt: ModelPrompt,
  signal: AbortSignal,
  out: ReplyStream,
  log: Logger,
): Promise<ModelAnswer> {
  const opened = await deps.providers.open(
    deps.agent,
    {
      ...prompt,
      ...(envelope.tools ? { tools: envelope.tools } : {}),
      ...(envelope.tool_choice !== undefined ? { toolChoice: envelope.tool_choice } : {}),
      ...(envelope.response_format ? { responseFormat: envelope.response_format } : {}),
      signal,
    },
    log,
  );
  const { provider, model, fallback } = opened;
  const send = (frame: UnsequencedFrame) => out.send(frame);
  // A non-streamed answer travels at the end: tell the gateway now that the model has started.
  if (!envelope.stream) send({ type: 'heartbeat', generating: true });
  let content = '';
  const toolCalls: ToolCall[] = [];
  for await (const event of opened.events) {
    if (event.type === 'delta') {
      content += event.content;
      if (envelope.stream) send({ type: 'delta', content: event.content });
    } else if (event.type === 'tool_call') {
      if (envelope.parallel_tool_calls === false && toolCalls.length > 0) continue;
      const call = withCallId(event.call);
      if (envelope.stream) sendToolCall(send, toolCalls.length, call);
      toolCalls.push(call);
    } else {
      if (!envelope.stream) sendAnswer(send, { content, toolCalls });
      return { content, toolCalls, finishReason: event.finishReason, usage: event.usage, provider, model, fallback };
    }
  }
  throw new AgentbusError('backend_error', `${provider} finished without reporting completion`);
}

/**
 * Answers one chat request: ack, the answer (from the response cache, or the model with deltas
 * and heartbeats), the turn written in one transaction, then `done`. Any failure — including an
 * abort through `inFlight` (the requester cancelled, or the worker is shutting down) — becomes
 * one `error` frame and writes nothing. Never throws.
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
  // Registered before the first await, so a cancel or shutdown can never miss this request.
  const cancel = inFlight.enter(envelope.request_id);
  // One signal for every reason to stop: the deadline, or `cancel` (requester left, shutdown).
  const stop = new AbortController();
  const deadline = clock.setTimeout(
    () =>
      stop.abort(
        new AgentbusError(
          'deadline_exceeded',
          `The model did not finish within the request timeout of ${envelope.timeout_ms} ms (REQUEST_TIMEOUT_MS); ` +
            'the worker abandoned it.',
        ),
      ),
    envelope.timeout_ms,
  );
  const onCancel = () => stop.abort(cancel.signal.reason);
  cancel.signal.addEventListener('abort', onCancel, { once: true });
  // An internal call (the router's classifier) leaves no trace in memory: no session, turn or cache entry.
  const store = envelope.store !== false;
  try {
    const session = store
      ? await resolveSession(deps.db, envelope.session_id, envelope.tenant, envelope.create_session)
      : undefined;
    const conversationId = session?.id ?? envelope.session_id;
    const history: History =
      session?.exists && !clientSentHistory(envelope.messages)
        ? await loadHistory(deps.db, session.id, agent.historyTurns, envelope.request_id)
        : NO_HISTORY;
    // Privacy sticks to a conversation: earlier private turns replayed as history must not
    // reach a non-local provider now.
    const isPrivate = envelope.private === true || history.private;
    const options = { ...agent.options, ...envelope.options };
    const key = store && deps.cache.enabled ? cacheKeyOf(envelope, agent, options, history.messages) : undefined;
    // "refresh" (Cache-Control: no-cache) skips the lookup; the fresh answer is still stored.
    const hit = key !== undefined && envelope.cache !== 'refresh' ? await deps.cache.get(key) : undefined;
    out.send({ type: 'ack', worker: deps.workerId, conversation_id: conversationId, cached: hit !== undefined });
    out.startHeartbeat(envelope.heartbeat_ms);

    let answer: Answer & Partial<ModelAnswer>;
    if (hit) {
      answer = {
        content: hit.content,
        toolCalls: hit.tool_calls ?? [],
        finishReason: hit.finish_reason,
        usage: hit.usage,
        model: hit.model,
      };
      sendAnswer((frame) => out.send(frame), answer);
    } else {
      answer = await askModel(
        deps,
        envelope,
        { messages: buildPrompt(agent, history.messages, envelope.messages), options, private: isPrivate },
        stop.signal,
        out,
        reqLog,
      );
    }
    // A cancel or deadline that lands after the last token still means nobody takes this answer.
    if (stop.signal.aborted) throw stop.signal.reason;

    const model = answer.model ?? agent.model;
    const processingMs = clock.now() - started;
    // No session means store: false — the turn is not written.
    const stored =
      session &&
      (await recordTurn(deps.db, {
        requestId: envelope.request_id,
        sessionId: session.id,
        tenant: envelope.tenant,
        agent: agent.name,
        model,
        inputMessages: newInputMessages(envelope.messages),
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
        private: isPrivate,
      }));
    if (stored === false) reqLog.info('turn already stored for this request id (redelivery); not written again');
    if (key !== undefined && !hit) {
      await deps.cache.put(key, {
        content: answer.content,
        tool_calls: answer.toolCalls,
        finish_reason: answer.finishReason,
        usage: answer.usage,
        model,
        stored_at: clock.now(),
      });
    }
    out.finish({
      type: 'done',
      finish_reason: answer.finishReason,
      usage: answer.usage,
      meta: {
        conversation_id: conversationId,
        memory_used: history.messages.length > 0,
        cached: hit !== undefined,
        processing_ms: processingMs,
        agent: agent.name,
        model,
        worker: deps.workerId,
        ...(answer.provider ? { provider: answer.provider } : {}),
        ...(answer.fallback?.length ? { fallback: answer.fallback } : {}),
      },
    });
    reqLog.info(
      {
        ms: processingMs,
        tokens: answer.usage.completion_tokens,
        memoryUsed: history.messages.length > 0,
        cached: hit !== undefined,
        provider: answer.provider,
        stored: store,
      },
      'chat request answered',
    );
    return { ok: true };
  } catch (err) {
    // Once stopped (cancel, deadline, shutdown), that is what happened, whatever a provider
    // threw while being aborted.
    const error = asAgentbusError(stop.signal.aborted ? stop.signal.reason : err);
    const level = error.code === 'internal_error' ? 'error' : error.code === 'request_cancelled' ? 'info' : 'warn';
    reqLog[level]({ code: error.code, err: error.cause ?? error }, error.message);
    if (!out.finish({ type: 'error', error: error.toWire() }))
      reqLog.warn('could not publish the error frame (NATS connection gone)');
    return { ok: false, code: error.code };
  } finally {
    clock.clearTimeout(deadline);
    cancel.signal.removeEventListener('abort', onCancel);
    cancel.leave();
  }
}
