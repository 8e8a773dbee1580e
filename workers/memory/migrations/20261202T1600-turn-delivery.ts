import { sql, type Kysely } from 'kysely';

// Migrations use Kysely<any> and never import app code: they must keep working as the app's
// types move on.
//
// A turn is written `pending` when the worker has its answer and becomes `committed` only when
// the requester confirms the client received the whole answer (protocol v2 receipts). History
// is the committed turns in commit order (`commit_seq`, per session). Turns stored before this
// migration were all delivered as far as anyone knows: committed, in the order they were written.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('turns')
    .addColumn('state', 'text', (col) => col.notNull().defaultTo('committed'))
    .execute();
  await db.schema.alterTable('turns').addColumn('commit_seq', 'integer').execute();
  await sql`update turns set commit_seq = id`.execute(db);
  await db.schema.createIndex('turns_session_commit_seq').on('turns').columns(['session_id', 'commit_seq']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('turns_session_commit_seq').execute();
  await db.schema.alterTable('turns').dropColumn('commit_seq').execute();
  await db.schema.alterTable('turns').dropColumn('state').execute();
}
