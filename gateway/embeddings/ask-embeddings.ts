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

function requestFailure(err: unknown, agent: string, timeoutMs: number): AgentbusError {
  if (isNoRespondersError(err))
    return new AgentbusError(
      'no_worker',
      `No worker serves the embedding agent "${agent}". Start one with "npm run worker" (or "npm start").`,
    );
  if (err instanceof TimeoutError)
    return new AgentbusError('deadline_exceeded', `No worker answered the embeddings within ${timeoutMs} ms.`, {
      cause: err,
    });
  const message = (err as Error)?.message ?? String(err);
  return new AgentbusError(
    'bus_unavailable',
    `The message bus (NATS) cannot take the embeddings request: ${message}. It reconnects on its own; retry shortly.`,
    { cause: err },
  );
}

/**
 * Asks one worker of the agent's queue group for the vectors: one request, one reply (no frames:
 * nothing streams and nothing is stored). An error reply is rebuilt into the worker's error.
 */
export async function askEmbeddings(bus: Bus, subject: string, request: EmbedRequest): Promise<EmbedVectorsReply> {
  const h = natsHeaders();
  h.set('Agentbus-Request-Id', request.request_id);
  if (request.traceparent) h.set('traceparent', request.traceparent);
  // A second past the worker's own limit, so its deadline error arrives before ours.
  const timeoutMs = request.timeout_ms + 1_000;
  let data: Uint8Array;
  try {
    // The agent's chat inbox: a worker credential scoped to the agent may answer only there.
    const inboxScope = inboxScopes.chat(request.intent);
    data = (await bus.request(subject, encodeJson(request), { timeoutMs, headers: h, inboxScope })).data;
  } catch (err) {
    throw requestFailure(err, request.intent, timeoutMs);
  }
  const reply = decodeEmbedReply(data);
  if (reply.type === 'error') throw errorFromWire(reply.error);
  return reply;
}
