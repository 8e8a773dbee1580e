import type { Kysely } from 'kysely';
import { AgentbusError, type ChatRequest, type DoneFrame } from '../../bus-schemas/index.js';
import type { Logger } from '../../common/logger.js';
import { commitTurn, discardTurn, findTurn, type StoredTurn } from '../memory/delivery.js';
import { settledTurn } from '../memory/pending.js';
import type { MemoryHealth } from '../memory/health.js';
import type { MemoryDatabase } from '../memory/schema.js';
import { recordTurn, type NewTurn } from '../memory/turns.js';
import { memoryFailure, memoryUnwritable } from '../memory-errors.js';
import type { Receipt, ReplyStream } from '../reply-stream.js';

type DoneBody = Omit<DoneFrame, 'seq' | 'request_id'>;

// Past the request's own deadline, how long the worker waits for the delivery receipt: the
// gateway answers as soon as the client's socket took the last bytes, so this only covers a
// slow reader of a long answer, and a gateway that died (whose turns are then discarded).
export { RECEIPT_GRACE_MS } from '../../bus-schemas/index.js';

export interface DeliverTurn {
  db: Kysely<MemoryDatabase>;
  /** Where memory is (`DATA_DIR (…)`, `DATABASE_URL (…)`), named in a memory_unavailable error. */
  memoryAt: string | undefined;
  /** Told of a failed write, so the next requests are refused before their model call. */
  health: Pick<MemoryHealth, 'failed'> | undefined;
  envelope: ChatRequest;
  /** The turn to store; undefined for `store: false` (nothing is written). */
  turn: NewTurn | undefined;
  done: DoneBody;
  /** How long the receipt may take (the request's deadline left, plus a grace). */
  receiptWaitMs: number;
  /** Runs once the turn is committed: the response cache is written only for delivered answers. */
  onCommitted(): void;
  /** True while this is the only request the worker is handling: its writes then wait for no others. */
  alone?: (() => boolean) | undefined;
  log: Logger;
}

/**
 * How the answer ended for memory: committed, discarded (why), nothing to store, or left pending:
 * delivered, but memory failed at the commit (another worker or the sweep settles it).
 */
export type Delivery =
  | { stored: 'committed' }
  | { stored: 'discarded'; why: string }
  | { stored: 'none' }
  | { stored: 'pending'; why: string };

/** A turn write waits for the others of its event-loop turn unless this request is the worker's only one. */
const gatherOf = (options: DeliverTurn) => ({ gather: options.alone?.() !== true });

/** Whether the stored row of this request id is committed with this very answer. */
const committedAs = (stored: StoredTurn | undefined, turn: NewTurn) =>
  stored?.state === 'committed' &&
  stored.assistantResponse === turn.assistantResponse &&
  stored.toolCalls === (turn.toolCalls.length > 0 ? JSON.stringify(turn.toolCalls) : null);

/**
 * Sends `done` and makes memory match what the client got. With a protocol v2 envelope the turn
 * is written pending, `done` goes out as a request, and the turn is committed only when the
 * requester's receipt says the client received the whole answer — else it is deleted. A v1
 * envelope (an older gateway, a replayed audit entry) is committed before `done`, as v1 did.
 * A redelivered request whose id already has an answer gets that same answer's `done` only when
 * the text matches; otherwise `answer_conflict`, and nothing changes. Throws before `done` is
 * sent (a memory failure, a conflict); after that, never.
 */
export async function deliverTurn(options: DeliverTurn, out: ReplyStream): Promise<Delivery> {
  const { db, envelope, done, log } = options;
  // The Responses link is the envelope's, whoever built the turn: stored so GET /v1/responses repeats it.
  const previous = envelope.previous_response_id;
  const turn =
    options.turn && (previous === undefined ? options.turn : { ...options.turn, previousResponseId: previous });
  if (!turn) {
    out.finish(done);
    return { stored: 'none' };
  }
  const receipts = envelope.v >= 2;
  const record = () =>
    recordTurn(db, turn, receipts ? 'pending' : 'committed', gatherOf(options)).catch((err: unknown) => {
      if (memoryUnwritable(err)) options.health?.failed(err);
      throw memoryFailure(err, options.memoryAt);
    });
  let recorded = await record();
  // An earlier attempt of this request (the gateway retried it) may still wait for a receipt it
  // will not get: once that one is settled — almost always discarded — this answer takes its place.
  if (!recorded && (await findTurn(db, turn.requestId))?.state === 'pending') {
    await settledTurn(db, turn.requestId);
    recorded = await record();
  }
  if (!recorded) {
    const stored = await findTurn(db, turn.requestId);
    if (!committedAs(stored, turn)) {
      throw new AgentbusError(
        'answer_conflict',
        stored?.state === 'pending'
          ? 'Another attempt of this request is still waiting for its delivery; this answer is dropped.'
          : 'This request id was already answered with another text; the stored answer is kept.',
      );
    }
    log.info('turn already stored with this answer (redelivery): not written again');
    out.finish(done);
    return { stored: 'committed' };
  }
  if (!receipts) {
    out.finish(done);
    options.onCommitted();
    return { stored: 'committed' };
  }
  const receipt = await out.finishAwaitingReceipt(done, options.receiptWaitMs);
  // Nothing is committed for an undelivered answer: its requester may stop resending at once.
  if (!receipt.delivered) receipt.acknowledge();
  try {
    const delivery = await settleAfterReceipt(options, turn, receipt);
    receipt.acknowledge();
    return delivery;
  } catch (err) {
    const why = `memory failed after the receipt: ${(err as Error).message}`;
    if (memoryUnwritable(err)) options.health?.failed(err);
    // Unacknowledged, a delivered receipt is sent again and committed by any worker
    // (memory.commit); an undelivered turn is removed by the sweep at a worker's start.
    log.error({ err, delivered: receipt.delivered }, 'could not commit or discard a turn after its receipt');
    return receipt.delivered ? { stored: 'pending', why } : { stored: 'discarded', why };
  }
}

/** Commits or discards the pending turn as the receipt says; throws when memory fails. */
async function settleAfterReceipt(options: DeliverTurn, turn: NewTurn, receipt: Receipt): Promise<Delivery> {
  const { db } = options;
  if (receipt.delivered && (await commitTurn(db, turn.requestId, turn.sessionId, gatherOf(options)))) {
    options.onCommitted();
    return { stored: 'committed' };
  }
  const why = receipt.delivered ? 'discarded meanwhile' : receipt.why;
  await discardTurn(db, turn.requestId, turn.sessionId);
  // A delivered receipt this worker was slow to take also went to another worker, which
  // committed the turn: the discard left it alone. (A retry's own answer under this id is not it.)
  if (committedAs(await findTurn(db, turn.requestId), turn)) {
    options.onCommitted();
    return { stored: 'committed' };
  }
  return { stored: 'discarded', why };
}
