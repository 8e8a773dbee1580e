import type { Kysely } from 'kysely';
import { AgentbusError, type ChatRequest, type DoneFrame, type ToolCall } from '../../bus-schemas/index.js';
import type { Logger } from '../../common/logger.js';
import { commitTurn, discardTurn, findTurn, type StoredTurn } from '../memory/delivery.js';
import { settledTurn } from '../memory/pending.js';
import type { MemoryHealth } from '../memory/health.js';
import type { MemoryDatabase } from '../memory/schema.js';
import { recordTurnRow, type NewTurn } from '../memory/turns.js';
import { storedText } from '../memory/turn-row.js';
import { memoryFailure, memoryUnwritable } from '../memory-errors.js';
import type { Receipt, ReplyStream } from '../reply-stream.js';

type DoneBody = Omit<DoneFrame, 'seq' | 'request_id'>;

// Past its writer's receipt wait, how long a pending turn may still be committed by another worker
// (a stalled worker's delivered receipt goes to memory.commit, retried for seconds) before it counts as left behind.
const ORPHANED_AFTER_MS = 30_000;

/**
 * A pending turn's `pending_until` for a receipt wait of `receiptWaitMs` from now: past it, a turn
 * still pending was left by a worker that died, and no request waits for it.
 */
export const pendingUntilAfter = (receiptWaitMs: number): number => Date.now() + receiptWaitMs + ORPHANED_AFTER_MS;

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

/** Whether the stored row of this request id is committed with this very answer (as memory keeps its text). */
const committedAs = (stored: StoredTurn | undefined, turn: NewTurn) =>
  stored?.state === 'committed' &&
  stored.assistantResponse === storedText(turn.assistantResponse) &&
  sameCalls(stored.toolCalls, turn.toolCalls);

/**
 * The same calls, by name and arguments: their ids are each answer's own (a model's, or made for a
 * cache hit), so a redelivered request answered again calls the same functions under other ids.
 */
function sameCalls(stored: string | null, calls: readonly ToolCall[]): boolean {
  const what = (list: readonly ToolCall[]) => JSON.stringify(list.map((call) => call.function));
  return what(stored === null ? [] : (JSON.parse(stored) as ToolCall[])) === what(calls);
}

/**
 * Sends `done` and makes memory match what the client got. With a protocol v2 envelope the turn
 * is written pending, `done` goes out as a request, and the turn is committed only when the
 * requester's receipt says the client received the whole answer — else it is deleted. A v1
 * envelope (an older gateway, or one sent by hand) is committed before `done`, as v1 did.
 * A redelivered request whose id already has an answer gets that same answer's `done` only when
 * the text matches; otherwise `answer_conflict`, and nothing changes. Throws before `done` is
 * sent (a memory failure, a conflict); after that, never.
 */
export async function deliverTurn(options: DeliverTurn, out: ReplyStream): Promise<Delivery> {
  const { db, envelope, done, log } = options;
  // The Responses link is the envelope's, whoever built the turn: stored so GET /v1/responses repeats it.
  const previous = envelope.previous_response_id;
  const receipts = envelope.v >= 2;
  const turn =
    options.turn && (previous === undefined ? options.turn : { ...options.turn, previousResponseId: previous });
  if (!turn) {
    out.finish(done);
    return { stored: 'none' };
  }
  const memoryFailed = (err: unknown) => {
    if (memoryUnwritable(err)) options.health?.failed(err);
    return memoryFailure(err, options.memoryAt);
  };
  // This attempt's row, by its id: a discard deletes no other attempt's.
  const record = () =>
    recordTurnRow(db, turn, receipts ? 'pending' : 'committed', gatherOf(options)).catch((err: unknown) => {
      throw memoryFailed(err);
    });
  let recorded = await record();
  if (recorded === undefined)
    recorded = await recordOverEarlier(options, turn, record, (rowId) =>
      discardTurn(db, turn.requestId, turn.sessionId, rowId).catch((err: unknown) => {
        throw memoryFailed(err);
      }),
    );
  if (recorded === undefined) {
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
    const delivery = await settleAfterReceipt(options, turn, receipt, recorded);
    receipt.acknowledge();
    return delivery;
  } catch (err) {
    const why = `memory failed after the receipt: ${(err as Error).message}`;
    if (memoryUnwritable(err)) options.health?.failed(err);
    // Unacknowledged, a delivered receipt is sent again and committed by any worker
    // (memory.commit); an undelivered turn is removed by a worker's next sweep (pending-sweeps.ts).
    log.error({ err, delivered: receipt.delivered }, 'could not commit or discard a turn after its receipt');
    return receipt.delivered ? { stored: 'pending', why } : { stored: 'discarded', why };
  }
}

// A write that finds another attempt's pending turn in its way looks again at most this often.
const RECORD_TRIES = 3;

/**
 * Writes the turn where another row of its request id is in the way; undefined when it stays
 * there (committed: a redelivery; pending and still awaited: a conflict). A pending row is
 * replaced when an earlier attempt wrote it (the gateway gave up on that attempt, which takes no
 * receipt: a worker killed before its `done` would leave it pending for good), or when its writer
 * stopped waiting long ago (`pending_until` past: its worker died). Else it is a redelivery whose
 * first delivery still waits for its receipt: once that is settled, this answer takes its place
 * or is its copy. The row is discarded by its id, so of two attempts racing to replace it, the
 * loser never deletes the winner's row: it finds that row in its way and decides again.
 */
async function recordOverEarlier(
  options: DeliverTurn,
  turn: NewTurn,
  record: () => Promise<number | undefined>,
  discardRow: (rowId: number) => Promise<void>,
): Promise<number | undefined> {
  const { db, envelope, log } = options;
  const attempt = envelope.attempt ?? 1;
  let waited = false;
  for (let tries = 0; tries < RECORD_TRIES; tries++) {
    const stored = await findTurn(db, turn.requestId);
    if (stored?.state === 'committed') return undefined;
    if (stored) {
      const abandoned = stored.pendingUntil !== null && stored.pendingUntil < Date.now();
      if (stored.attempt >= attempt && !abandoned) {
        if (waited) return undefined;
        waited = true;
        await settledTurn(db, turn.requestId);
        continue;
      }
      log.warn({ attempt: stored.attempt }, 'replacing the pending turn an earlier attempt of this request left');
      await discardRow(stored.id);
    }
    const id = await record();
    if (id !== undefined) return id;
  }
  return undefined;
}

/** Commits or discards the pending turn as the receipt says; throws when memory fails. */
async function settleAfterReceipt(
  options: DeliverTurn,
  turn: NewTurn,
  receipt: Receipt,
  rowId: number,
): Promise<Delivery> {
  const { db } = options;
  if (receipt.delivered && (await commitTurn(db, turn.requestId, turn.sessionId, gatherOf(options)))) {
    options.onCommitted();
    return { stored: 'committed' };
  }
  const why = receipt.delivered ? 'discarded meanwhile' : receipt.why;
  await discardTurn(db, turn.requestId, turn.sessionId, rowId);
  // A delivered receipt this worker was slow to take also went to another worker, which
  // committed the turn: the discard left it alone. (A retry's own answer under this id is not it.)
  if (committedAs(await findTurn(db, turn.requestId), turn)) {
    options.onCommitted();
    return { stored: 'committed' };
  }
  return { stored: 'discarded', why };
}
