import { AgentbusError, type EmbedRequest, type EmbedVectorsReply } from '../../bus-schemas/index.js';
import type { Agent } from '../../common/catalog.js';
import { systemClock } from '../../common/clock.js';
import type { SignalLike } from '../../common/light-signal.js';
import type { Logger } from '../../common/logger.js';
import type { ChatDeps } from '../chat/types.js';
import { askEmbeddings } from './ask-embeddings.js';
import { batchParts } from './batch-parts.js';
import { embedInParts } from './embed-in-parts.js';
import { EmbedWidths } from './embed-widths.js';
import { embedWithRetry } from './retry-embeddings.js';

// The least a part sent late may be given: the envelope's `timeout_ms` minimum.
const MIN_PART_MS = 100;

/**
 * The batch of `envelope` sent to the agent's workers: as one request (retried once:
 * retry-embeddings.ts) when it and its expected vectors fit NATS's max_payload with room to spare,
 * else cut into parts that do (batch-parts.ts), each sent and retried as one request, at most a
 * few at once (embed-in-parts.ts), within the one deadline of the whole batch.
 */
export async function sendEmbedding(
  deps: ChatDeps,
  agent: Agent,
  envelope: EmbedRequest,
  left: SignalLike | undefined,
  log: Logger,
): Promise<EmbedVectorsReply> {
  const clock = deps.clock ?? systemClock;
  const started = clock.now();
  const firstTokenMs = agent.timeouts.firstTokenMs ?? deps.config.firstTokenTimeoutMs;
  const embedOne = async (request: EmbedRequest, signal: SignalLike | undefined) => {
    const totalMs = envelope.timeout_ms - (clock.now() - started);
    if (totalMs < MIN_PART_MS)
      throw new AgentbusError('deadline_exceeded', `No embeddings within ${envelope.timeout_ms} ms.`);
    return embedWithRetry({
      clock,
      totalMs,
      firstReplyMs: Math.min(firstTokenMs, totalMs),
      attempt: (timeoutMs, waitMs) =>
        askEmbeddings(
          deps.bus,
          { ...request, timeout_ms: timeoutMs },
          {
            subject: deps.subjects.embed(agent.name),
            cancelSubject: deps.subjects.cancel(agent.name),
            auditSubject: deps.config.audit.enabled ? deps.subjects.auditEmbed(agent.name) : undefined,
            waitMs,
            heartbeatMs: deps.config.heartbeatMs,
            signal,
            clock,
          },
        ),
      onRetry: (failure) =>
        log.warn(
          { code: failure.code, agent: agent.name, requestId: request.request_id },
          `embeddings of ${agent.name} failed before an answer (${failure.message}); retrying once`,
        ),
    });
  };
  // Without the gateway's record, every batch is cut for the widest vectors assumed.
  const widths = deps.embedWidths ?? new EmbedWidths();
  // Unknown before the first connection: one request, which waits for the bus as ever.
  const maxPayload = deps.bus.maxPayload;
  const dimensions = widths.of(agent.name, envelope.dimensions);
  const parts = maxPayload === undefined ? [] : batchParts(envelope.input, maxPayload, dimensions);
  const reply =
    parts.length > 1
      ? await embedInParts({ envelope, parts, signal: left, embedPart: (part, stop) => embedOne(part, stop) })
      : await embedOne(envelope, left);
  if (envelope.dimensions === undefined) widths.saw(agent.name, reply);
  return reply;
}
