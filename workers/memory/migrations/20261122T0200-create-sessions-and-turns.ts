import { sql, type ColumnDefinitionBuilder, type Kysely } from 'kysely';
import { memoryDialectOf } from '../dialect.js';

// Migrations use Kysely<any> and never import app code (the dialect check excepted): they must
// keep working as the app's types move on.
//
// One table definition for both dialects, with two differences. The row id: SQLite's
// `integer primary key autoincrement`, PostgreSQL's identity column. And on PostgreSQL the text
// compared by range (request ids: request-parts.ts; ISO timestamps) is collated "C", bytewise as
// in SQLite: a database's default collation (e.g. en_US) may skip punctuation, so "R." < x < "R/"
// would not be the ids that start with "R.".
export async function up(db: Kysely<any>): Promise<void> {
  const postgres = memoryDialectOf(db) === 'postgres';
  const rowId = (col: ColumnDefinitionBuilder) =>
    postgres ? col.generatedByDefaultAsIdentity().primaryKey() : col.primaryKey().autoIncrement();
  const bytewise = (col: ColumnDefinitionBuilder) => (postgres ? col.modifyFront(sql`collate "C"`) : col);

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
    .addColumn('id', 'integer', rowId)
    .addColumn('request_id', 'text', (col) => bytewise(col).notNull().unique())
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
    .addColumn('created_at', 'text', (col) =>
      bytewise(col)
        .notNull()
        .defaultTo(sql`CURRENT_TIMESTAMP`),
    )
    .execute();

  // History is read newest-first per session.
  await db.schema.createIndex('turns_session_id_id').on('turns').columns(['session_id', 'id']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('turns').execute();
  await db.schema.dropTable('sessions').execute();
}
