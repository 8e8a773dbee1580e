import type { Kysely } from 'kysely';

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
