import type { Kysely } from 'kysely';

// Migrations use Kysely<any> and never import app code: they must keep working as the app's
// types move on.
export async function up(db: Kysely<any>): Promise<void> {
  // JSON text or NULL: the OpenAI tool calls of the answer, the client's `user`, its `metadata`.
  await db.schema.alterTable('turns').addColumn('tool_calls', 'text').execute();
  await db.schema.alterTable('turns').addColumn('end_user', 'text').execute();
  await db.schema.alterTable('turns').addColumn('metadata', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('turns').dropColumn('metadata').execute();
  await db.schema.alterTable('turns').dropColumn('end_user').execute();
  await db.schema.alterTable('turns').dropColumn('tool_calls').execute();
}
