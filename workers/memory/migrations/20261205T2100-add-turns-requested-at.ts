import type { Kysely } from 'kysely';

// Migrations use Kysely<any> and never import app code: they must keep working as the app's
// types move on.
export async function up(db: Kysely<any>): Promise<void> {
  // When (ms since the epoch) the gateway accepted the turn's request: a stored response's
  // created_at, the one it was answered with. NULL for older turns, which read their created_at.
  await db.schema.alterTable('turns').addColumn('requested_at', 'bigint').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('turns').dropColumn('requested_at').execute();
}
