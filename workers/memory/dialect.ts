import type { Kysely, Transaction } from 'kysely';

export type MemoryDialect = 'sqlite' | 'postgres';

const dialects = new WeakMap<object, MemoryDialect>();

/**
 * The SQL dialect of a Kysely instance or transaction. Kysely names no dialect publicly, but its
 * compiler shows it: PostgreSQL numbers parameters (`$1`), SQLite writes `?`.
 */
export function memoryDialectOf<DB>(db: Kysely<DB>): MemoryDialect {
  let dialect = dialects.get(db);
  if (dialect === undefined) {
    const { sql } = (db as unknown as Kysely<{ turns: { id: number } }>)
      .selectFrom('turns')
      .select('id')
      .where('id', '=', 0)
      .compile();
    dialect = sql.includes('$1') ? 'postgres' : 'sqlite';
    dialects.set(db, dialect);
  }
  return dialect;
}

/**
 * Runs `work` in a transaction of `db` that is known to share its dialect. Each transaction is a
 * Kysely instance of its own: found out by compiling, its dialect cost ~2 % of the worker's CPU
 * at concurrency 32 (a compile per turn write; BENCHMARKS.md).
 */
export function inTransactionOf<DB, T>(db: Kysely<DB>, work: (trx: Transaction<DB>) => Promise<T>): Promise<T> {
  const dialect = memoryDialectOf(db);
  return db.transaction().execute((trx) => {
    dialects.set(trx, dialect);
    return work(trx);
  });
}
