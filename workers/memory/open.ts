import { sql, type Kysely } from 'kysely';
import type { Logger } from '../../common/logger.js';
import { memoryProblemOf } from '../memory-errors.js';
import { openMemory } from './database.js';
import { migrateToLatest } from './migrate.js';
import type { MemoryDatabase } from './schema.js';
import { memoryLocation, type MemorySettings } from './settings.js';

/** An open memory database at the latest schema. */
export interface OpenedMemory {
  db: Kysely<MemoryDatabase>;
  /** `DATA_DIR (…)` or `DATABASE_URL (…)` with the password masked: for logs and errors. */
  at: string;
  /** Names of the migrations this opening applied. */
  applied: string[];
}

/**
 * Opens the memory database the settings name, checks that it answers and brings it to the
 * latest schema (worker start, `npm start`, `npm run migrate`). A server that cannot be reached
 * or refuses the credentials stops it here, with an error naming DATABASE_URL (no password).
 */
export async function openMigratedMemory(settings: MemorySettings, log?: Logger): Promise<OpenedMemory> {
  const at = memoryLocation(settings);
  const db = openMemory(settings, (err) =>
    log?.warn({ problem: memoryProblemOf(err) }, 'a memory database connection closed; the next query opens another'),
  );
  try {
    await sql`select 1`.execute(db);
  } catch (err) {
    await db.destroy().catch(() => undefined);
    throw new Error(`cannot open the memory database at ${at}: ${memoryProblemOf(err)}`, { cause: err });
  }
  try {
    return { db, at, applied: await migrateToLatest(db) };
  } catch (err) {
    await db.destroy().catch(() => undefined);
    throw new Error(`${(err as Error).message} (memory database at ${at})`, { cause: err });
  }
}
