import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { ensurePostgres } from '../../scripts/lib/postgres-server.js';
import { childrenOf, cpuSecondsOf } from '../../common/process-table.js';
import { startPrivatePostgres } from '../../scripts/lib/private-postgres.js';
import { memoryDatabasePath } from '../../workers/memory/database.js';
import { openMigratedMemory } from '../../workers/memory/open.js';
import type { MemoryDatabase } from '../../workers/memory/schema.js';
import { DEFAULT_POOL_SIZE, redactDatabaseUrl } from '../../workers/memory/settings.js';
import type { MemoryEngineName } from './engine-names.js';

/** Where the bench's workers keep their memory for one set of figures. */
export interface MemoryEngine {
  readonly name: MemoryEngineName;
  /** What the report says about it, e.g. `SQLite WAL (synchronous=NORMAL)`. */
  readonly description: string;
  /** Environment over the stack's for workers writing to it (none: SQLite under the stack's DATA_DIR). */
  readonly workerEnv: Readonly<Record<string, string>>;
  /** Turns committed so far (the delivery contract's `committed` state; pending ones do not count). */
  committedTurns(): Promise<number>;
  /** CPU seconds a database server of its own has used so far: 0 for SQLite, which runs inside the worker. */
  serverCpuSeconds(): number;
  close(): Promise<void>;
}

/** One query for both dialects: what the bench counts as a turn written. */
async function countCommitted(db: Kysely<MemoryDatabase>): Promise<number> {
  const row = await db
    .selectFrom('turns')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('state', '=', 'committed')
    .executeTakeFirstOrThrow();
  // PostgreSQL's count is a bigint, which `pg` hands over as a string.
  return Number(row.n);
}

/** The workers' own SQLite file under `dataDir`, read without taking a write lock. */
export function sqliteEngine(dataDir: string): MemoryEngine {
  return {
    name: 'sqlite',
    description: 'SQLite WAL (synchronous=NORMAL, one file per host)',
    workerEnv: {},
    async committedTurns() {
      // Opened per count: the workers make the file at their start, after this engine exists.
      const database = new Database(memoryDatabasePath(dataDir), { readonly: true, fileMustExist: true });
      const db = new Kysely<MemoryDatabase>({ dialect: new SqliteDialect({ database }) });
      try {
        return await countCommitted(db);
      } finally {
        await db.destroy();
      }
    },
    serverCpuSeconds: () => 0,
    async close() {},
  };
}

function postgresVersion(bin: string): string {
  const out = execFileSync(join(bin, 'postgres'), ['--version'], { encoding: 'utf8' });
  return /\d+(\.\d+)*/.exec(out)?.[0] ?? 'unknown';
}

/**
 * A private PostgreSQL for the workers (Debian's `postgresql`, installed when missing and we are
 * root): a temp cluster on a free loopback port with PostgreSQL's own durability defaults, as an
 * operator's server runs, migrated as `npm run migrate` does before any worker starts.
 */
export async function startPostgresEngine(say: (line: string) => void): Promise<MemoryEngine> {
  const bin = ensurePostgres(say);
  const server = await startPrivatePostgres({ durable: true });
  try {
    const { db, at, applied } = await openMigratedMemory({
      dialect: 'postgres',
      url: server.url,
      shownUrl: redactDatabaseUrl(server.url),
      poolSize: 1,
      preparedStatements: true,
    });
    say(`PostgreSQL on port ${server.port}: ${at}, applied ${applied.length} migration(s)`);
    return {
      name: 'postgres',
      description:
        `PostgreSQL ${postgresVersion(bin)} (private server on loopback, fsync and synchronous_commit on, ` +
        `a pool of ${DEFAULT_POOL_SIZE} connections per worker and prepared statements, the defaults)`,
      workerEnv: { DATABASE_URL: server.url },
      committedTurns: () => countCommitted(db),
      serverCpuSeconds() {
        // The postmaster with its exited backends, and the backends alive now (one per pooled connection).
        const pid = server.pid;
        if (pid === undefined) return NaN;
        const live = childrenOf(pid).reduce((sum, child) => sum + (cpuSecondsOf(child) || 0), 0);
        return cpuSecondsOf(pid, { reapedChildren: true }) + live;
      },
      async close() {
        await db.destroy().catch(() => undefined);
        await server.dispose();
      },
    };
  } catch (err) {
    await server.dispose();
    throw err;
  }
}
