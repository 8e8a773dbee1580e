import { isDeepStrictEqual } from 'node:util';
import type { Compilable, Kysely } from 'kysely';
import type { MemoryDatabase } from './schema.js';
import type { CachingDatabase } from './statement-cache.js';

/** The better-sqlite3 side of one memory database: statements run synchronously, in the caller. */
export interface DirectStatements {
  /** The first row of a select, or undefined. */
  get<Row>(query: DirectQuery, parameters: readonly unknown[]): Row | undefined;
  /** Runs an insert/update; returns the rows it changed. */
  run(query: DirectQuery, parameters: readonly unknown[]): number;
  /** Runs `body` in one transaction (BEGIN … COMMIT, ROLLBACK when it throws), synchronously. */
  transaction<T>(body: () => T): T;
}

/**
 * A query as Kysely builds it, from the same builder the Kysely path uses; its SQL is compiled
 * once, at first use, and the parameters are then passed in the order Kysely put them.
 */
export type DirectQuery = (db: Kysely<MemoryDatabase>, ...values: never[]) => Compilable;

interface Connection {
  sqlite: CachingDatabase;
}

const connections = new WeakMap<Kysely<MemoryDatabase>, Connection>();
const sqlOf = new WeakMap<DirectQuery, string>();

/** Lets the hot repository functions of `db` run on `sqlite` directly (openMemoryDatabase does). */
export function registerDirectStatements(db: Kysely<MemoryDatabase>, sqlite: Connection['sqlite']): void {
  connections.set(db, { sqlite });
}

/**
 * The hot path of the worker's memory — session lookup and the turn write, about ten
 * statements per request — without Kysely's per-query building, compiling and async
 * connection lock, which cost the worker more CPU than SQLite's own work (BENCHMARKS.md,
 * "Profile and optimisations"). The SQL is still Kysely's: each query is compiled once from the
 * Kysely builder and checked against the parameters given. Undefined — use Kysely — for a
 * database opened elsewhere, and while a Kysely transaction is open on the connection (the
 * direct statements would run inside it).
 */
export function directStatementsOf(db: Kysely<MemoryDatabase>): DirectStatements | undefined {
  const connection = connections.get(db);
  if (!connection || connection.sqlite.inTransaction) return undefined;
  const { sqlite } = connection;
  const prepared = (query: DirectQuery, parameters: readonly unknown[]) => {
    let sql = sqlOf.get(query);
    if (sql === undefined) {
      const compiled = query(db, ...(parameters as never[])).compile();
      // The builder takes its values in the order it uses them: a builder that does not would
      // bind them to the wrong placeholders, so say so at the first call (tests run them all).
      if (!isDeepStrictEqual([...compiled.parameters], [...parameters]))
        throw new Error(`direct statement parameters out of order for: ${compiled.sql}`);
      sql = compiled.sql;
      sqlOf.set(query, sql);
    }
    // The connection's statement cache (statement-cache.ts) prepares each text once.
    return sqlite.prepare(sql);
  };
  return {
    get: <Row>(query: DirectQuery, parameters: readonly unknown[]) =>
      prepared(query, parameters).get(parameters) as Row | undefined,
    run: (query, parameters) => Number(prepared(query, parameters).run(parameters).changes),
    transaction<T>(body: () => T): T {
      // The statements Kysely's SQLite driver sends for a transaction, on the same connection.
      sqlite.prepare('begin').run([]);
      try {
        const result = body();
        sqlite.prepare('commit').run([]);
        return result;
      } catch (err) {
        // SQLite may have rolled back already (some errors end the transaction themselves).
        if (sqlite.inTransaction) sqlite.prepare('rollback').run([]);
        throw err;
      }
    },
  };
}
