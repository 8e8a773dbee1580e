import type { Kysely } from 'kysely';

// Migrations use Kysely<any> and never import app code: they must keep working as the app's
// types move on.
//
// `turns_session_id_id` served the history read before turns were numbered at commit; every
// query by session now uses `turns_session_commit_seq` (session_id first). Each turn write and
// delete still kept the unused index up to date: one more b-tree page per turn in every COMMIT.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('turns_session_id_id').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('turns_session_id_id').on('turns').columns(['session_id', 'id']).execute();
}
