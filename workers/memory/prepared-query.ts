import type { Compilable, CompiledQuery, Kysely, QueryResult } from 'kysely';
import { memoryDialectOf, type MemoryDialect } from './dialect.js';

/** A query built and compiled once, then run through Kysely with a new set of named parameters each time. */
export interface PreparedQuery<DB, Params, Row> {
  /** Runs on `db` — a Kysely instance or a transaction — with `params` bound by name. */
  execute(db: Kysely<DB>, params: Params): Promise<QueryResult<Row>>;
}

// What the builder sees as each parameter while it is compiled: text no caller sends.
const MARKER = '\u0000agentbus:param:';

/** Where a compiled parameter comes from: a named parameter, or a constant the builder wrote. */
type Slot<Params> = { name: keyof Params & string } | { value: unknown };

interface Compiled<Params, Row> {
  query: CompiledQuery<Row>;
  slots: Slot<Params>[];
}

/**
 * Prepares `build` for repeated use. Building and compiling a Kysely query costs more than SQLite
 * takes to run it, so the builder runs once, given a marker in place of every parameter; the
 * compiled query remembers which named parameter sits at each position and binds `params` there
 * at execution. Kysely still runs it: its connection, transaction and driver as for any query.
 * Parameters are plain values: a builder that derives one from another (`p.root + '.'`) throws.
 *
 * The SQL is compiled once per dialect (SQLite and PostgreSQL write it differently), by the
 * first database of that dialect it runs on.
 */
export function prepareQuery<DB, Params extends object, Row>(
  build: (db: Kysely<DB>, params: Params) => Compilable<Row>,
): PreparedQuery<DB, Params, Row> {
  const compiled = new Map<MemoryDialect, Compiled<Params, Row>>();
  const run = (db: Kysely<DB>, params: Params, { query, slots }: Compiled<Params, Row>) =>
    db.executeQuery<Row>({
      ...query,
      parameters: slots.map((slot) => ('name' in slot ? params[slot.name] : slot.value)),
    });
  return {
    execute(db, params) {
      // Kysely's own promise, as it is: no extra async step per query on the hot path. The first
      // run compiles inside an async function, so a builder's mistake arrives as a rejection.
      const dialect = memoryDialectOf(db);
      const known = compiled.get(dialect);
      if (known) return run(db, params, known);
      return (async () => {
        const fresh = compileWithMarkers(db, build);
        compiled.set(dialect, fresh);
        return run(db, params, fresh);
      })();
    },
  };
}

function compileWithMarkers<DB, Params extends object, Row>(
  db: Kysely<DB>,
  build: (db: Kysely<DB>, params: Params) => Compilable<Row>,
): Compiled<Params, Row> {
  const named = new Map<string, keyof Params & string>();
  const markers = new Proxy({} as Params, {
    get(_target, name) {
      if (typeof name !== 'string') return undefined;
      named.set(`${MARKER}${name}`, name as keyof Params & string);
      return `${MARKER}${name}`;
    },
  });
  const query = build(db, markers).compile();
  if (query.sql.includes(MARKER)) throw new Error(`a parameter was written into the SQL text: ${query.sql}`);
  const slots = query.parameters.map((value): Slot<Params> => {
    if (typeof value !== 'string' || !value.includes(MARKER)) return { value };
    const name = named.get(value);
    if (name === undefined)
      throw new Error(`a parameter was changed by the builder (derive it before binding): ${query.sql}`);
    return { name };
  });
  return { query, slots };
}
