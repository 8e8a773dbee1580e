import {
  SqliteDialect,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type SqliteDialectConfig,
  type TransactionSettings,
} from 'kysely';

/** How many queued acquirers get the connection in a row before the event loop gets a turn. */
const YIELD_EVERY = 64;

/**
 * Kysely's SqliteDialect with its one connection handed out in arrival order by
 * {@link QueuedDriver}. Kysely's own lock wakes every waiter on each release and lets one win,
 * so K queries waiting cost K² wake-ups, all in one event-loop turn (better-sqlite3 answers
 * synchronously): 8,000 inserts at once held a process for 4 s, and the worker of 10,000
 * streams for 17 s, with no heartbeat sent meanwhile (BENCHMARKS.md, "10,000 streams").
 */
export function queuedSqliteDialect(config: SqliteDialectConfig): Dialect {
  // Kysely's own dialect picks the parts; only its driver is wrapped.
  const dialect = new SqliteDialect(config);
  return {
    createAdapter: () => dialect.createAdapter(),
    createDriver: () => new QueuedDriver(dialect.createDriver()),
    createIntrospector: (db) => dialect.createIntrospector(db),
    createQueryCompiler: () => dialect.createQueryCompiler(),
  };
}

/**
 * A driver of one connection whose acquirers wait in a FIFO queue, each woken alone when the
 * connection is released to it, so the driver beneath never sees more than one at a time.
 */
export class QueuedDriver implements Driver {
  #busy = false;
  #waiting: Array<(() => void) | undefined> = [];
  #head = 0;
  /** Hand-offs in a row without a return to the event loop (see #handOff). */
  #inARow = 0;

  constructor(private readonly inner: Driver) {}

  init(): Promise<void> {
    return this.inner.init();
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    // Released to us by #handOff, which leaves #busy set: nobody can slip in between.
    if (this.#busy) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#busy = true;
    try {
      return await this.inner.acquireConnection();
    } catch (err) {
      this.#handOff();
      throw err;
    }
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    try {
      await this.inner.releaseConnection(connection);
    } finally {
      this.#handOff();
    }
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return this.inner.beginTransaction(connection, settings);
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return this.inner.commitTransaction(connection);
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    try {
      await this.inner.rollbackTransaction(connection);
    } catch (err) {
      // SQLite rolls a transaction back itself on some failures (a full disk, an I/O error): the
      // ROLLBACK then finds none, and its error would stand for the one that matters (Kysely throws
      // the rollback's), so that a full disk read as an internal error, not memory_unavailable.
      if (!rolledBackAlready(err)) throw err;
    }
  }

  savepoint: Driver['savepoint'] = (connection, name, compile) => this.inner.savepoint!(connection, name, compile);

  rollbackToSavepoint: Driver['rollbackToSavepoint'] = (connection, name, compile) =>
    this.inner.rollbackToSavepoint!(connection, name, compile);

  releaseSavepoint: Driver['releaseSavepoint'] = (connection, name, compile) =>
    this.inner.releaseSavepoint!(connection, name, compile);

  destroy(): Promise<void> {
    return this.inner.destroy();
  }

  /** The connection goes to the longest waiter, or becomes free. */
  #handOff(): void {
    const next = this.#waiting[this.#head];
    if (!next) {
      this.#busy = false;
      this.#waiting = [];
      this.#head = 0;
      this.#inARow = 0;
      return;
    }
    // Taken by index, not shift(): a queue of thousands costs O(1) per hand-off.
    this.#waiting[this.#head++] = undefined;
    if (this.#head > 1024 && this.#head * 2 > this.#waiting.length) {
      this.#waiting = this.#waiting.slice(this.#head);
      this.#head = 0;
    }
    // better-sqlite3 answers at once, so a queue would otherwise drain in one event-loop turn:
    // now and then the loop gets a turn first, for the bus's reads and the heartbeats' timers.
    if (++this.#inARow < YIELD_EVERY) next();
    else {
      this.#inARow = 0;
      setImmediate(next);
    }
  }
}

/** SQLite's answer to a ROLLBACK (or ROLLBACK TO) of a transaction it has already rolled back itself. */
export function rolledBackAlready(err: unknown): boolean {
  const message = err instanceof Error ? err.message : '';
  return /^cannot rollback - no transaction is active$|^no such savepoint: /.test(message);
}
