import { sql, type Kysely } from 'kysely';

// Migrations use Kysely<any> and never import app code: they must keep working as the app's
// types move on.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('sessions')
    .addColumn('id', 'text', (col) => col.primaryKey())
    .addColumn('tenant', 'text', (col) => col.notNull())
    .addColumn('agent', 'text', (col) => col.notNull())
    .addColumn('created_at', 'text', (col) => col.notNull())
    .addColumn('updated_at', 'text', (col) => col.notNull())
    .addColumn('turn_count', 'integer', (col) => col.notNull().defaultTo(0))
    .execute();

  await db.schema
    .createTable('turns')
    .addColumn('id', 'integer', (col) => col.primaryKey().autoIncrement())
    .addColumn('request_id', 'text', (col) => col.notNull().unique())
    .addColumn('session_id', 'text', (col) => col.notNull().references('sessions.id').onDelete('cascade'))
    .addColumn('agent', 'text', (col) => col.notNull())
    .addColumn('model', 'text', (col) => col.notNull())
    .addColumn('user_input', 'text', (col) => col.notNull())
    .addColumn('input_messages', 'text', (col) => col.notNull())
    .addColumn('assistant_response', 'text', (col) => col.notNull())
    .addColumn('finish_reason', 'text', (col) => col.notNull())
    .addColumn('cached', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('prompt_tokens', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('completion_tokens', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('duration_ms', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('created_at', 'text', (col) => col.notNull().defaultTo(sql`CURRENT_TIMESTAMP`))
    .execute();

  // History is read newest-first per session.
  await db.schema.createIndex('turns_session_id_id').on('turns').columns(['session_id', 'id']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('turns').execute();
  await db.schema.dropTable('sessions').execute();
}
