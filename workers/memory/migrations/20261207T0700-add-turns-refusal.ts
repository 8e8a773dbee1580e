import type { Kysely } from 'kysely';

// Migrations use Kysely<any> and never import app code: they must keep working as the app's
// types move on.
export async function up(db: Kysely<any>): Promise<void> {
  // The model's refusal (OpenAI's `refusal`), also in assistant_response, which history
  // replays: a stored response shows it as a refusal part. NULL when it did not refuse, and for older turns.
  await db.schema.alterTable('turns').addColumn('refusal', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('turns').dropColumn('refusal').execute();
}
