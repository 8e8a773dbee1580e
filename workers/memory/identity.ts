import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Logger } from '../../common/logger.js';
import { memoryProblemOf } from '../memory-errors.js';
import type { MemoryDatabase } from './schema.js';

const readId = async (db: Kysely<MemoryDatabase>): Promise<string | undefined> =>
  (await db.selectFrom('memory_identity').select('database_id').where('id', '=', 1).executeTakeFirst())?.database_id;

/**
 * The memory database's id (a random UUID made once with it, by its migration), which the worker
 * reports in `$SRV.INFO` so `/ready` sees workers that write different databases. A database
 * that lost the row gets one: insert-or-nothing, then read, so workers racing on one PostgreSQL
 * all read the same winner. Undefined, with a warning, when it cannot be read (start anyway:
 * the memory probe reports a database that cannot be written).
 */
export async function memoryIdentity(db: Kysely<MemoryDatabase>, log: Logger): Promise<string | undefined> {
  try {
    const found = await readId(db);
    if (found !== undefined) return found;
    await db
      .insertInto('memory_identity')
      .values({ id: 1, database_id: randomUUID(), created_at: new Date().toISOString() })
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
    return await readId(db);
  } catch (err) {
    log.warn(
      { problem: memoryProblemOf(err) },
      "cannot read the memory database's id: /ready cannot tell whether this worker shares its memory",
    );
    return undefined;
  }
}
