import type { Kysely } from 'kysely';

// Migrations use Kysely<any> and never import app code: they must keep working as the app's
// types move on.
export async function up(db: Kysely<any>): Promise<void> {
  // Text or NULL: the Responses API's previous_response_id; older turns read as having none.
  await db.schema.alterTable('turns').addColumn('previous_response_id', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('turns').dropColumn('previous_response_id').execute();
}
