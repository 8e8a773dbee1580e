import type { PostgresCursor, PostgresPool, PostgresPoolClient, PostgresQueryResult } from 'kysely';
import type pg from 'pg';

// The worker runs about a dozen distinct statements; odd ones past this run unnamed, so a
// connection never holds more than this many prepared statements on the server.
const DEFAULT_CAPACITY = 256;

/**
 * `pool` for Kysely's PostgresDialect whose statements run as named prepared statements. Kysely
 * sends each query unnamed, which PostgreSQL parses and plans again every time; `pg` prepares a
 * named one once per connection and afterwards sends only its name and parameters. Names are
 * given by SQL text (`agentbus_1`, …), the same on every connection; the SQL of a Kysely query is
 * stable across calls (values are parameters). Queries, results and transactions are unchanged.
 */
export function namedStatements(pool: pg.Pool, capacity = DEFAULT_CAPACITY): PostgresPool {
  const names = new Map<string, string>();
  const nameOf = (sql: string): string | undefined => {
    const known = names.get(sql);
    if (known !== undefined || names.size >= capacity) return known;
    const name = `agentbus_${names.size + 1}`;
    names.set(sql, name);
    return name;
  };
  return {
    async connect() {
      return namingClient(await pool.connect(), nameOf);
    },
    end: () => pool.end(),
  };
}

function namingClient(client: pg.PoolClient, nameOf: (sql: string) => string | undefined): PostgresPoolClient {
  function query<R>(sql: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>>;
  function query<R>(cursor: PostgresCursor<R>): PostgresCursor<R>;
  function query<R>(
    sqlOrCursor: string | PostgresCursor<R>,
    parameters?: ReadonlyArray<unknown>,
  ): Promise<PostgresQueryResult<R>> | PostgresCursor<R> {
    // A cursor (Kysely's streamed queries; agentbus configures none) goes through as it is.
    if (typeof sqlOrCursor !== 'string') return client.query(sqlOrCursor as never);
    const values = parameters as unknown[];
    const name = nameOf(sqlOrCursor);
    const config = name === undefined ? { text: sqlOrCursor, values } : { name, text: sqlOrCursor, values };
    return client.query(config) as unknown as Promise<PostgresQueryResult<R>>;
  }
  return { query, release: () => client.release() };
}
