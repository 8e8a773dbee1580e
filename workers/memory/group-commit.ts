import { CompiledQuery, type Kysely, type Transaction } from 'kysely';
import { inTransactionOf, memoryDialectOf } from './dialect.js';
import { rolledBackAlready } from './sqlite-dialect.js';

// SQLite's COMMIT (appending the changed pages to the WAL, updating its index) was ~75 % of the
// worker's SQLite time at concurrency 32, one per pending write and one per commit of each turn
// (BENCHMARKS.md, issue 21). The turn writes of concurrent requests therefore share one
// transaction: each runs inside its own SAVEPOINT, so one that throws (a replay, another
// tenant's session, a turn no longer pending) rolls back only its own statements, and each
// caller is answered only after the shared COMMIT — nothing is acknowledged before it is durable
// as before. PostgreSQL keeps one transaction per write: its pool runs them side by side, and its
// row locks order the commits of one conversation.

type Work<DB> = (trx: Transaction<DB>) => Promise<unknown>;

interface Job<DB> {
  work: Work<DB>;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

class GroupCommit<DB> {
  readonly #db: Kysely<DB>;
  /** The batch whose transaction waits for the connection: writes arriving meanwhile join it. */
  #open: Job<DB>[] | undefined;

  constructor(db: Kysely<DB>) {
    this.#db = db;
  }

  run<T>(work: (trx: Transaction<DB>) => Promise<T>, gather: boolean): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const job: Job<DB> = { work, resolve, reject };
      if (this.#open) {
        this.#open.push(job);
        return;
      }
      // The transaction is asked for at once, as an ungrouped write would be: a read queued on
      // the connection after this write (a client reading its own turn) still comes after it.
      const batch = [job];
      this.#open = batch;
      this.#execute(batch, gather).catch((err: unknown) => batch.forEach((j) => j.reject(err)));
    });
  }

  async #execute(batch: Job<DB>[], gather: boolean): Promise<void> {
    let outcomes: Outcome[];
    try {
      outcomes = await inTransactionOf(this.#db, async (trx) => {
        // The connection is ours: the writes of this event-loop turn (a NATS read often carries
        // many receipts) still join, then later ones form the next batch, so batches grow with
        // the load. Their answers then leave together too, in one socket write. A write with
        // nobody to wait for goes on in this turn: its answer then leaves with what this turn sent.
        if (gather) await new Promise((resolve) => setImmediate(resolve));
        if (this.#open === batch) this.#open = undefined;
        // Alone, a write that throws rolls back the whole transaction, exactly as ungrouped.
        if (batch.length === 1) return [{ ok: true, value: await batch[0]!.work(trx) }];
        return together(trx, batch);
      });
    } catch (err) {
      // The write alone threw, or BEGIN or COMMIT failed: nothing of the batch is stored.
      for (const job of batch) job.reject(err);
      return;
    }
    batch.forEach((job, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) job.resolve(outcome.value);
      else job.reject(outcome.error);
    });
  }
}

// Compiled once: built and compiled for each write, the three cost ~2 % of the worker (BENCHMARKS.md).
const SAVEPOINT = CompiledQuery.raw('savepoint turn_write');
const RELEASE = CompiledQuery.raw('release turn_write');
const ROLLBACK = CompiledQuery.raw('rollback to turn_write');

/** Each write in its own savepoint: one that throws rolls back its own statements only. */
async function together<DB>(trx: Transaction<DB>, batch: Job<DB>[]): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  for (const job of batch) {
    await trx.executeQuery(SAVEPOINT);
    try {
      const value = await job.work(trx);
      await trx.executeQuery(RELEASE);
      outcomes.push({ ok: true, value });
    } catch (error) {
      try {
        await trx.executeQuery(ROLLBACK);
      } catch (rollbackError) {
        // SQLite rolled the whole transaction back itself (a full disk): no write of the batch is
        // stored, and each fails with this write's own error, which says why.
        throw rolledBackAlready(rollbackError) ? error : rollbackError;
      }
      await trx.executeQuery(RELEASE);
      outcomes.push({ ok: false, error });
    }
  }
  return outcomes;
}

const groups = new WeakMap<object, GroupCommit<never>>();

/** How a turn write joins others. */
export interface TurnWriteOptions {
  /**
   * False when no other request is in flight in this process (concurrency 1): the write does not
   * wait for the rest of the event-loop turn, so the `done` it precedes leaves in this turn's socket
   * write with the answer's frames instead of in a write of its own (issue 21, goal 2). Default true.
   */
  gather?: boolean | undefined;
}

/**
 * Runs `work` in a transaction of its own or, on SQLite, in one shared with the turn writes of
 * other requests queued at the same moment; resolves (or rejects with what `work` threw) only
 * once that transaction is committed or rolled back. `work` must only touch the database.
 */
export function inTurnTransaction<DB, T>(
  db: Kysely<DB>,
  work: (trx: Transaction<DB>) => Promise<T>,
  options: TurnWriteOptions = {},
): Promise<T> {
  if (memoryDialectOf(db) !== 'sqlite') return inTransactionOf(db, work);
  let group = groups.get(db) as GroupCommit<DB> | undefined;
  if (!group) {
    group = new GroupCommit(db);
    groups.set(db, group as unknown as GroupCommit<never>);
  }
  return group.run(work, options.gather !== false);
}
