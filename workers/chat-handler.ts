import type { NatsConnection } from '@nats-io/transport-node';
import type { Kysely } from 'kysely';
import { AgentbusError, decodeChatRequest, ID_PATTERN, type ChatRequest } from '../bus-schemas/index.js';
import type { Agent } from '../common/catalog.js';
import type { Logger } from '../common/logger.js';
import type { MemoryDatabase } from './memory/schema.js';
import { resolveSession } from './memory/sessions.js';
import { loadHistory, recordTurn } from './memory/turns.js';
import type { InFlight } from './in-flight.js';
import { buildPrompt, clientSentHistory, newInputMessages } from './prompt.js';
import type { ChatProvider, ProviderEvent } from './providers/index.js';
import { ReplyStream } from './reply-stream.js';

export interface ChatHandlerDeps {
  nc: Pick<NatsConnection, 'publish'>;
  db: Kysely<MemoryDatabase>;
  provider: ChatProvider;
  agent: Agent;
  workerId: string;
  log: Logger;
}

/** A chat request as it arrives from NATS. */
export interface IncomingChatMessage {
  data: Uint8Array;
  reply?: string;
}

/** How a handled request ended, for the service's statistics. */
export type ChatOutcome = { ok: true } | { ok: false; code: string };

// A non-streamed answer still travels in pieces: one NATS message must stay far below any
// server's max_payload (1 MB by default), whatever the model produced.
const MAX_DELTA_CHARS = 64 * 1024;
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

function asAgentbusError(err: unknown): AgentbusError {
  if (err instanceof AgentbusError) return err;
  return new AgentbusError('internal_error', `worker failed: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}

/**
 * Answers one chat request: ack, model call with deltas and heartbeats, the turn written in one
 * transaction, then `done`. Any failure — including an abort through `inFlight` (the requester
 * cancelled, or the worker is shutting down) — becomes one `error` frame and writes nothing.
 * Never throws.
 */
export async function handleChatRequest(deps: ChatHandlerDeps, msg: IncomingChatMessage, inFlight: InFlight): Promise<ChatOutcome> {
  const { agent, log } = deps;
  if (!msg.reply) {
    log.warn({ agent: agent.name }, 'chat request without a reply subject dropped');
    return { ok: false, code: 'invalid_envelope' };
  }
  const started = Date.now();
  let envelope: ChatRequest;
  try {
    envelope = decodeChatRequest(msg.data);
    if (envelope.intent !== agent.name) {
      throw new AgentbusError('invalid_envelope', `envelope intent "${envelope.intent}" arrived on the subject of agent "${agent.name}"`, { param: 'intent' });
    }
  } catch (err) {
    const error = asAgentbusError(err);
    new ReplyStream(deps.nc, msg.reply, requestIdOf(msg.data)).finish({ type: 'error', error: error.toWire() });
    return { ok: false, code: error.code };
  }

  const reqLog = log.child({ requestId: envelope.request_id, intent: envelope.intent, session: envelope.session_id });
  const out = new ReplyStream(deps.nc, msg.reply, envelope.request_id);
  // Registered before the first await, so a cancel or shutdown can never miss this request.
  const cancel = inFlight.enter(envelope.request_id);
  // One signal for every reason to stop: the deadline, or `cancel` (requester left, shutdown).
  const stop = new AbortController();
  const deadline = setTimeout(
    () => stop.abort(new AgentbusError('deadline_exceeded', `The model did not finish within the request timeout of ${envelope.timeout_ms} ms (REQUEST_TIMEOUT_MS); the worker abandoned it.`)),
    envelope.timeout_ms,
  );
  const onCancel = () => stop.abort(cancel.signal.reason);
  cancel.signal.addEventListener('abort', onCancel, { once: true });
  try {
    const session = await resolveSession(deps.db, envelope.session_id, envelope.tenant, envelope.create_session);
    out.send({ type: 'ack', worker: deps.workerId, conversation_id: session.id });
    out.startHeartbeat(envelope.heartbeat_ms);

    const history = session.exists && !clientSentHistory(envelope.messages) ? await loadHistory(deps.db, session.id, agent.historyTurns) : [];
    const events = deps.provider.chat({
      model: agent.model,
      messages: buildPrompt(agent, history, envelope.messages),
      options: { ...agent.options, ...envelope.options },
      signal: stop.signal,
    });

    let content = '';
    let done: Extract<ProviderEvent, { type: 'done' }> | undefined;
    for await (const event of events) {
      if (event.type === 'done') done = event;
      else {
        content += event.content;
        // Without streaming the client waits for the whole answer anyway: fewer, larger deltas.
        if (envelope.stream) out.send({ type: 'delta', content: event.content });
      }
    }
    if (!done) throw new AgentbusError('backend_error', `${deps.provider.name} finished without reporting completion`);
    // A cancel or deadline that lands after the last token still means nobody takes this answer.
    if (stop.signal.aborted) throw stop.signal.reason;
    if (!envelope.stream) {
      for (let i = 0; i < content.length; i += MAX_DELTA_CHARS) out.send({ type: 'delta', content: content.slice(i, i + MAX_DELTA_CHARS) });
    }

    const processingMs = Date.now() - started;
    const stored = await recordTurn(deps.db, {
      requestId: envelope.request_id,
      sessionId: session.id,
      tenant: envelope.tenant,
      agent: agent.name,
      model: agent.model,
      inputMessages: newInputMessages(envelope.messages),
      assistantResponse: content,
      finishReason: done.finishReason,
      cached: false,
      promptTokens: done.usage.prompt_tokens,
      completionTokens: done.usage.completion_tokens,
      durationMs: processingMs,
    });
    if (!stored) reqLog.info('turn already stored for this request id (redelivery); not written again');
    out.finish({
      type: 'done',
      finish_reason: done.finishReason,
      usage: done.usage,
      meta: { conversation_id: session.id, memory_used: history.length > 0, cached: false, processing_ms: processingMs, agent: agent.name, model: agent.model, worker: deps.workerId },
    });
    reqLog.info({ ms: processingMs, tokens: done.usage.completion_tokens, memoryUsed: history.length > 0 }, 'chat request answered');
    return { ok: true };
  } catch (err) {
    const error = asAgentbusError(err);
    const level = error.code === 'internal_error' ? 'error' : error.code === 'request_cancelled' ? 'info' : 'warn';
    reqLog[level]({ code: error.code, err: error.cause ?? error }, error.message);
    if (!out.finish({ type: 'error', error: error.toWire() })) reqLog.warn('could not publish the error frame (NATS connection gone)');
    return { ok: false, code: error.code };
  } finally {
    clearTimeout(deadline);
    cancel.signal.removeEventListener('abort', onCancel);
    cancel.leave();
  }
}
