import type { Kysely } from 'kysely';

// Migrations use Kysely<any> and never import app code: they must keep working as the app's
// types move on.
//
// One row the workers rewrite to find out, for real, whether the database can be written (a full
// disk, a read-only file): a read or a rolled-back transaction would not tell.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('memory_probe')
    .addColumn('id', 'integer', (col) => col.primaryKey())
    .addColumn('checked_at', 'text', (col) => col.notNull())
    .addColumn('worker', 'text', (col) => col.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('memory_probe').execute();
}
