import { createHash } from 'node:crypto';
import type { PostgresCursor, PostgresPool, PostgresPoolClient, PostgresQueryResult } from 'kysely';
import type pg from 'pg';
import { preparedStatementLost, schemaChanged } from './error-advice.js';

// The worker runs about a dozen distinct statements; odd ones past this run unnamed, so a
// connection never holds more than this many prepared statements on the server.
const DEFAULT_CAPACITY = 256;

// After such a failure a connection's prepared statements cannot be trusted: the schema changed
// under them, or a pooler in transaction mode moved them away or doubled them. It is closed.
const staleStatements = (err: unknown) => schemaChanged(err) || preparedStatementLost(err);

/**
 * `pool` for Kysely's PostgresDialect whose statements run as named prepared statements. Kysely
 * sends each query unnamed, which PostgreSQL parses and plans again every time; `pg` prepares a
 * named one once per connection and afterwards sends only its name and parameters. A statement is
 * named on its second use and only when it has parameters: one-off texts (a sweep's `in (…)` list
 * of some length, migrations, `begin`) stay unnamed and take no place. The name is a digest of the
 * SQL text, so it means the same text in every worker process and version that shares a server
 * connection (through a pooler). Queries, results and transactions are unchanged.
 */
export function namedStatements(pool: pg.Pool, capacity = DEFAULT_CAPACITY): PostgresPool {
  const names = new Map<string, string>();
  const seenOnce = new Set<string>();
  const nameOf = (sql: string, parameters: number): string | undefined => {
    if (parameters === 0) return undefined;
    const known = names.get(sql);
    if (known !== undefined || names.size >= capacity) return known;
    if (!seenOnce.has(sql)) {
      if (seenOnce.size < capacity * 4) seenOnce.add(sql);
      return undefined;
    }
    seenOnce.delete(sql);
    const name = `agentbus_${createHash('sha256').update(sql).digest('hex').slice(0, 32)}`;
    names.set(sql, name);
    return name;
  };
  // One wrapper per pooled connection, as Kysely keeps one connection object per client it gets.
  const wrappers = new WeakMap<pg.PoolClient, NamingClient>();
  return {
    async connect() {
      const client = await pool.connect();
      let wrapper = wrappers.get(client);
      if (!wrapper) wrappers.set(client, (wrapper = new NamingClient(client, nameOf)));
      return wrapper;
    },
    end: () => pool.end(),
  };
}

class NamingClient implements PostgresPoolClient {
  // Set by a failure that makes this connection's prepared statements stale; the pool then closes it.
  #stale: Error | undefined;

  constructor(
    private readonly client: pg.PoolClient,
    private readonly nameOf: (sql: string, parameters: number) => string | undefined,
  ) {}

  query<R>(sql: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>>;
  query<R>(cursor: PostgresCursor<R>): PostgresCursor<R>;
  query<R>(
    sqlOrCursor: string | PostgresCursor<R>,
    parameters?: ReadonlyArray<unknown>,
  ): Promise<PostgresQueryResult<R>> | PostgresCursor<R> {
    // A cursor (Kysely's streamed queries; agentbus configures none) goes through as it is.
    if (typeof sqlOrCursor !== 'string') return this.client.query(sqlOrCursor as never);
    const values = (parameters ?? []) as unknown[];
    const name = this.nameOf(sqlOrCursor, values.length);
    const config = name === undefined ? { text: sqlOrCursor, values } : { name, text: sqlOrCursor, values };
    return (this.client.query(config) as unknown as Promise<PostgresQueryResult<R>>).catch((err: unknown) => {
      if (staleStatements(err)) this.#stale = err as Error;
      throw err;
    });
  }

  release(): void {
    const stale = this.#stale;
    this.#stale = undefined;
    this.client.release(stale);
  }
}
