import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql, type Transaction } from 'kysely';
import t from 'tap';
import { memoryUnwritable } from '../../workers/memory-errors.js';
import { memoryDatabasePath, openMemoryDatabase } from '../../workers/memory/database.js';
import { inTurnTransaction } from '../../workers/memory/group-commit.js';
import { migrateToLatest } from '../../workers/memory/migrate.js';
import type { MemoryDatabase } from '../../workers/memory/schema.js';

// A full disk (here: SQLite's page limit, which fails alike) makes SQLite roll the transaction
// back itself. The ROLLBACK after it finds none; its error must not stand for the full disk, or the
// worker answers internal_error, asks the model on every request and never refuses with
// memory_unavailable (nor, with MEMORY_PROBE_INTERVAL_MS=0, probes again).
const dir = mkdtempSync(join(tmpdir(), 'agentbus-full-'));
const db = openMemoryDatabase(memoryDatabasePath(dir));
t.before(async () => {
  await migrateToLatest(db);
  await sql`create table filler (x blob)`.execute(db);
  const { rows } = await sql<{ page_count: number }>`pragma page_count`.execute(db);
  await sql.raw(`pragma max_page_count = ${rows[0]!.page_count}`).execute(db);
});
t.teardown(async () => {
  await db.destroy();
  rmSync(dir, { recursive: true, force: true });
});

const fill = (trx: Transaction<MemoryDatabase>) => sql`insert into filler values (randomblob(1000000))`.execute(trx);

t.test('a write alone: it fails with the full disk', async (t) => {
  const err = await inTurnTransaction(db, fill).catch((e: unknown) => e);
  t.match(err, { code: 'SQLITE_FULL' });
  t.ok(memoryUnwritable(err), 'read as the memory database refusing writes');
});

t.test('writes sharing a transaction: each fails with the full disk', async (t) => {
  const small = (trx: Transaction<MemoryDatabase>) => sql`insert into filler values (x'00')`.execute(trx);
  const results = await Promise.allSettled([inTurnTransaction(db, small), inTurnTransaction(db, fill)]);
  t.same(
    results.map((r) => (r.status === 'rejected' ? (r.reason as { code?: string }).code : 'stored')),
    ['SQLITE_FULL', 'SQLITE_FULL'],
    'the transaction SQLite rolled back took the other write with it',
  );
  const { rows } = await sql<{ n: number }>`select count(*) as n from filler`.execute(db);
  t.equal(rows[0]!.n, 0);
  t.equal(await inTurnTransaction(db, small).then(() => 'stored'), 'stored', 'the next write works');
});
