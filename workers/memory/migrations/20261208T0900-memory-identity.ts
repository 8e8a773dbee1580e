import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';

// Migrations use Kysely<any> and never import app code: they must keep working as the app's
// types move on.
//
// One row naming the database: workers report it, so the gateway can tell two workers that
// write different databases (another DATA_DIR, another DATABASE_URL) from two that share one.
// Made under the migrator's lock; workers/memory/identity.ts adds the row if it ever goes.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('memory_identity')
    .addColumn('id', 'integer', (col) => col.primaryKey())
    .addColumn('database_id', 'text', (col) => col.notNull())
    .addColumn('created_at', 'text', (col) => col.notNull())
    .execute();
  await db
    .insertInto('memory_identity')
    .values({ id: 1, database_id: randomUUID(), created_at: new Date().toISOString() })
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('memory_identity').execute();
}
