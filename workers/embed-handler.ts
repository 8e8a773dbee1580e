import { AgentbusError, decodeEmbedRequest, encodeJson, encodeVector, type EmbedReply } from '../bus-schemas/index.js';
import type { Agent } from '../common/catalog.js';
import type { Bus } from '../common/bus.js';
import type { Clock } from '../common/clock.js';
import { deadlineSignal } from '../common/deadline-signal.js';
import type { Logger } from '../common/logger.js';
import { progressIfAsked } from './embeddings/embed-progress.js';
import { withDimensions } from './embeddings/dimensions.js';
import type { InFlight } from './in-flight.js';
import type { ProviderChains } from './providers/chain.js';

export interface EmbedHandlerDeps {
  providers: ProviderChains;
  agent: Agent;
  log: Logger;
  /** For the progress replies (`ack`, heartbeats) a requester asks for. */
  bus: Pick<Bus, 'publish' | 'request'>;
  /** The micro service id, named in the `ack`. */
  workerId: string;
  clock?: Clock | undefined;
}

/** An embed request as it arrives from NATS (a micro service message fits). */
export interface IncomingEmbedRequest {
  data: Uint8Array;
  reply?: string;
  /** The NATS headers; `Agentbus-Heartbeat-Ms` asks for progress replies. */
  headers?: { get(key: string): string } | undefined;
  /** Publishes on the reply subject; throws when NATS refuses the message (e.g. max_payload). */
  respond(data: Uint8Array): boolean;
}

/** The embeddings of one request, with the agent's provider chain; nothing is stored. */
async function embed(
  deps: EmbedHandlerDeps,
  msg: IncomingEmbedRequest,
  inFlight: InFlight,
  onId: (id: string) => void,
) {
  const request = decodeEmbedRequest(msg.data);
  onId(request.request_id);
  const { agent } = deps;
  if (request.intent !== agent.name)
    throw new AgentbusError(
      'invalid_envelope',
      `embed request for "${request.intent}" arrived on the subject of "${agent.name}"`,
      { param: 'intent' },
    );
  const held = inFlight.enter(request.request_id);
  const deadline = deadlineSignal(held.signal, request.timeout_ms);
  const { signal } = deadline;
  // Its requester gone, this attempt alone stops: a retry of the same id may be running here too.
  const stopProgress = progressIfAsked(msg, {
    bus: deps.bus,
    clock: deps.clock,
    worker: deps.workerId,
    requestId: request.request_id,
    onRequesterGone: () => held.abort(requesterGone()),
  });
  try {
    const log = deps.log.child({ requestId: request.request_id, agent: agent.name });
    const result = await deps.providers.embed(
      agent,
      { input: request.input, signal, private: request.private === true },
      log,
    );
    const vectors = withDimensions(agent, result, request.dimensions);
    const reply: EmbedReply = {
      type: 'embeddings',
      request_id: request.request_id,
      embeddings: vectors.map(encodeVector),
      model: result.model,
      provider: result.provider,
      usage: { prompt_tokens: result.promptTokens, total_tokens: result.promptTokens },
    };
    stopProgress();
    try {
      msg.respond(encodeJson(reply));
    } catch (err) {
      throw new AgentbusError(
        'request_too_large',
        `The ${vectors.length} vectors are larger than the message bus carries (${(err as Error).message}); ` +
          'send fewer inputs per request.',
        { param: 'input', cause: err },
      );
    }
  } catch (err) {
    // Cancelled or shut down: the reason says which; otherwise the time ran out.
    if (held.signal.aborted) throw held.signal.reason;
    if (signal.aborted)
      throw new AgentbusError('deadline_exceeded', `No embeddings within ${request.timeout_ms} ms.`, { cause: err });
    throw err;
  } finally {
    stopProgress();
    deadline.dispose();
    held.leave();
  }
}

const requesterGone = () =>
  new AgentbusError(
    'request_cancelled',
    'The requester is gone (nobody listens on its reply inbox any more); the worker abandoned the embeddings.',
  );

/**
 * Answers one `<prefix>.<agent>.embed` request with one reply: the vectors, or an error. Errors
 * are answered, never thrown; no turn, session or cache entry is written.
 */
export async function handleEmbedRequest(
  deps: EmbedHandlerDeps,
  msg: IncomingEmbedRequest,
  inFlight: InFlight,
): Promise<{ ok: true } | { ok: false; code: string }> {
  if (!msg.reply) {
    deps.log.warn('embed request without a reply subject dropped');
    return { ok: false, code: 'invalid_envelope' };
  }
  let requestId = 'unknown';
  try {
    await embed(deps, msg, inFlight, (id) => (requestId = id));
    return { ok: true };
  } catch (err) {
    const error =
      err instanceof AgentbusError
        ? err
        : new AgentbusError('internal_error', `embedding failed: ${(err as Error)?.message ?? String(err)}`, {
            cause: err,
          });
    const level = error.code === 'internal_error' ? 'error' : 'info';
    deps.log[level]({ requestId, code: error.code, err: error.cause ?? error }, error.message);
    try {
      msg.respond(encodeJson({ type: 'error', request_id: requestId, error: error.toWire() } satisfies EmbedReply));
    } catch (publishError) {
      deps.log.warn({ err: publishError, requestId }, 'could not publish the embed error reply');
    }
    return { ok: false, code: error.code };
  }
}
