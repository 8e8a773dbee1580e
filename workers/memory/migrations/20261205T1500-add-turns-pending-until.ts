import type { Kysely } from 'kysely';

// Migrations use Kysely<any> and never import app code: they must keep working as the app's
// types move on.
export async function up(db: Kysely<any>): Promise<void> {
  // When (ms since the epoch) the worker that wrote a pending turn stops waiting for its receipt:
  // still pending then, its worker died, and nobody waits for it. NULL: written committed, or older.
  await db.schema.alterTable('turns').addColumn('pending_until', 'bigint').execute();
  // Which attempt of its request wrote the turn (the envelope's `attempt`): a later attempt replaces
  // an earlier one's pending turn, never the other way round. NULL: the first, or an older turn.
  await db.schema.alterTable('turns').addColumn('attempt', 'integer').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('turns').dropColumn('attempt').execute();
  await db.schema.alterTable('turns').dropColumn('pending_until').execute();
}
