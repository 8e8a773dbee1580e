import { TimeoutError, headers as natsHeaders } from '@nats-io/transport-node';
import {
  AgentbusError,
  decodeEmbedReply,
  encodeJson,
  errorFromWire,
  inboxScopes,
  type EmbedRequest,
  type EmbedVectorsReply,
} from '../../bus-schemas/index.js';
import { isNoRespondersError, type Bus } from '../../common/bus.js';

function requestFailure(err: unknown, agent: string, waitMs: number, lastAttempt: boolean): AgentbusError {
  if (isNoRespondersError(err))
    return new AgentbusError(
      'no_worker',
      `No worker serves the embedding agent "${agent}". Start one with "npm run worker" (or "npm start").`,
    );
  // Not the last attempt: the worker's silence is what a retry on another worker may fix.
  if (err instanceof TimeoutError && !lastAttempt)
    return new AgentbusError(
      'first_token_timeout',
      `The worker of "${agent}" answered nothing within ${waitMs} ms (FIRST_TOKEN_TIMEOUT_MS).`,
      { cause: err },
    );
  if (err instanceof TimeoutError)
    return new AgentbusError('deadline_exceeded', `No worker answered the embeddings within ${waitMs} ms.`, {
      cause: err,
    });
  const message = (err as Error)?.message ?? String(err);
  return new AgentbusError(
    'bus_unavailable',
    `The message bus (NATS) cannot take the embeddings request: ${message}. It reconnects on its own; retry shortly.`,
    { cause: err },
  );
}

export interface AskEmbeddingsOptions {
  subject: string;
  /** Where a copy of the request goes for the audit stream (AUDIT=on); absent, none is sent. */
  auditSubject?: string | undefined;
  /** Gives up on this attempt's worker sooner than its deadline (a retry follows); absent, the deadline. */
  waitMs?: number | undefined;
}

/**
 * Asks one worker of the agent's queue group for the vectors: one request, one reply (no frames:
 * nothing streams and nothing is stored). An error reply is rebuilt into the worker's error.
 */
export async function askEmbeddings(
  bus: Bus,
  request: EmbedRequest,
  options: AskEmbeddingsOptions,
): Promise<EmbedVectorsReply> {
  const h = natsHeaders();
  h.set('Agentbus-Request-Id', request.request_id);
  if (request.traceparent) h.set('traceparent', request.traceparent);
  // A second past the worker's own limit, so its deadline error arrives before ours.
  const deadlineMs = request.timeout_ms + 1_000;
  const waitMs = Math.min(options.waitMs ?? deadlineMs, deadlineMs);
  const data = encodeJson(request);
  let reply: Uint8Array;
  try {
    // The agent's chat inbox: a worker credential scoped to the agent may answer only there.
    const inboxScope = inboxScopes.chat(request.intent);
    // Without a reply subject, as for chat: the audit stream (no_ack) records it, nobody answers it.
    if (options.auditSubject) bus.publish(options.auditSubject, data, { headers: h });
    reply = (await bus.request(options.subject, data, { timeoutMs: waitMs, headers: h, inboxScope })).data;
  } catch (err) {
    throw requestFailure(err, request.intent, waitMs, waitMs === deadlineMs);
  }
  const decoded = decodeEmbedReply(reply);
  if (decoded.type === 'error') throw errorFromWire(decoded.error);
  return decoded;
}
