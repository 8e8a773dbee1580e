import type { Database, Statement } from 'better-sqlite3';
import type { SqliteDatabase } from 'kysely';

/** Kysely's SqliteDatabase, with better-sqlite3's statements. */
export interface CachingDatabase extends SqliteDatabase {
  prepare(sql: string): Statement;
}

// Enough for every query the worker runs (a dozen) with room for odd ones; the SQL of a Kysely
// query is stable across calls (values are parameters), so the hot ones never fall out.
const DEFAULT_CAPACITY = 256;

/**
 * `database` for Kysely's SqliteDialect that keeps prepared statements by SQL text. Kysely's
 * driver calls `prepare()` on every query, and SQLite's parse and plan of a statement cost the
 * worker about as much as running it (BENCHMARKS.md, "Profile and optimisations"); a
 * better-sqlite3 statement can be run any number of times with new parameters. Queries, their
 * results and transactions are unchanged: Kysely still sends every statement, `begin`/`commit`
 * included, on the one connection.
 */
export function cachingStatements(db: Database, capacity = DEFAULT_CAPACITY): CachingDatabase {
  // Least recently used by a stamp, not by moving the entry to the end: a delete and set per
  // query churned the Map's table, and V8's old tables keep each query's SQL text alive (and
  // promoted) until a full collection (common/releasing-map.ts).
  const statements = new Map<string, { statement: Statement; used: number }>();
  let uses = 0;
  return {
    prepare(sql: string): Statement {
      const known = statements.get(sql);
      // A statement still being iterated (Kysely's streamQuery) cannot be run again meanwhile.
      if (known && !known.statement.busy) {
        known.used = ++uses;
        return known.statement;
      }
      const statement = db.prepare(sql);
      if (!known && capacity > 0) {
        if (statements.size >= capacity) statements.delete(leastRecentlyUsed(statements));
        statements.set(sql, { statement, used: ++uses });
      }
      return statement;
    },
    close() {
      statements.clear();
      db.close();
    },
  };
}

function leastRecentlyUsed(statements: Map<string, { used: number }>): string {
  let oldest: [string, number] = ['', Infinity];
  for (const [sql, { used }] of statements) if (used < oldest[1]) oldest = [sql, used];
  return oldest[0];
}
