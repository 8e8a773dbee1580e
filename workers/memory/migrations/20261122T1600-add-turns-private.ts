import type { Kysely } from 'kysely';

// Migrations use Kysely<any> and never import app code: they must keep working as the app's
// types move on.
export async function up(db: Kysely<any>): Promise<void> {
  // 0 or 1. Turns stored before this column existed were never marked; they read as not private.
  await db.schema
    .alterTable('turns')
    .addColumn('private', 'integer', (col) => col.notNull().defaultTo(0))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('turns').dropColumn('private').execute();
}
