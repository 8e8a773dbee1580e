import { TimeoutError, headers as natsHeaders } from '@nats-io/transport-node';
import {
  AgentbusError,
  decodeMemoryLastReply,
  encodeJson,
  errorFromWire,
  inboxScopes,
  type MemoryLastRequest,
  type MemoryTurnsReply,
} from '../../bus-schemas/index.js';
import { isNoRespondersError, type Bus } from '../../common/bus.js';

/** Where and how long to ask. */
export interface MemoryQueryOptions {
  /** `<prefix>.memory.last`. */
  subject: string;
  /** How long to wait for the one reply. */
  timeoutMs: number;
}

/** A failed memory query as the error the client gets (no worker, timeout, bus down). */
function requestFailure(err: unknown, timeoutMs: number): AgentbusError {
  // What the bus's owner tells the client instead (a stopping gateway's 503), as it is.
  if (err instanceof AgentbusError) return err;
  if (isNoRespondersError(err)) {
    return new AgentbusError(
      'no_worker',
      'No worker is answering memory queries. Start one with "npm run worker" (or "npm start" for the whole stack).',
    );
  }
  if (err instanceof TimeoutError) {
    return new AgentbusError('deadline_exceeded', `No worker answered the memory query within ${timeoutMs} ms.`, {
      cause: err,
    });
  }
  const message = (err as Error)?.message ?? String(err);
  return new AgentbusError(
    'bus_unavailable',
    `The message bus (NATS) cannot take the memory query: ${message}. It reconnects on its own; retry shortly.`,
    { cause: err },
  );
}

/**
 * One memory query's request: one reply, on its own random inbox in the memory scope (the Bus's
 * request, not nats.js's shared one, a nuid guessable from others: workers may publish to every
 * gateway memory inbox, and one must not answer another's query; scoped workers answer only
 * there). Throws {@link requestFailure}'s error; the caller decodes the reply.
 */
export async function askMemory(
  bus: Bus,
  query: { request_id: string },
  options: MemoryQueryOptions,
): Promise<Uint8Array> {
  const h = natsHeaders();
  h.set('Agentbus-Request-Id', query.request_id);
  try {
    const asked = { timeoutMs: options.timeoutMs, headers: h, inboxScope: inboxScopes.memory };
    return (await bus.request(options.subject, encodeJson(query), asked)).data;
  } catch (err) {
    throw requestFailure(err, options.timeoutMs);
  }
}

/**
 * Asks the workers for a session's last turns: one request, one reply. No responders is
 * `no_worker` at once; an error reply is rebuilt into the error the worker raised
 * (`session_not_found`, …) and thrown.
 */
export async function queryLastTurns(
  bus: Bus,
  query: MemoryLastRequest,
  options: MemoryQueryOptions,
): Promise<MemoryTurnsReply> {
  const reply = decodeMemoryLastReply(await askMemory(bus, query, options));
  if (reply.type === 'error') throw errorFromWire(reply.error);
  return reply;
}
