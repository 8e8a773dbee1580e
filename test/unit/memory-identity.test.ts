import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import t from 'tap';
import { createLogger } from '../../common/logger.js';
import { memoryDatabasePath, openMemoryDatabase } from '../../workers/memory/database.js';
import { memoryIdentity } from '../../workers/memory/identity.js';
import { migrateToLatest } from '../../workers/memory/migrate.js';

// Each memory database names itself, so /ready can tell workers that share one from workers that
// do not (two DATA_DIRs). Real SQLite files; PostgreSQL in test/e2e/postgres-memory.test.ts.

const dirs: string[] = [];
const openDir = async (dir = mkdtempSync(join(tmpdir(), 'agentbus-identity-'))) => {
  if (!dirs.includes(dir)) dirs.push(dir);
  const db = openMemoryDatabase(memoryDatabasePath(dir));
  await migrateToLatest(db);
  t.teardown(() => db.destroy());
  return { dir, db };
};
t.teardown(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
const log = createLogger('test', { level: 'silent' });
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

t.test('the migration names the database once; every opening reads the same id', async (t) => {
  const first = await openDir();
  const id = await memoryIdentity(first.db, log);
  t.match(id, UUID);
  const again = await openDir(first.dir);
  t.equal(await memoryIdentity(again.db, log), id, 'a second worker on the same DATA_DIR');
  t.equal(await migrateToLatest(again.db).then(() => memoryIdentity(again.db, log)), id, 'not remade');
});

t.test('another DATA_DIR is another database: another id', async (t) => {
  const [a, b] = await Promise.all([openDir(), openDir()]);
  t.not(await memoryIdentity(a.db, log), await memoryIdentity(b.db, log));
});

t.test('a database that lost its row gets one id, also for workers asking at once', async (t) => {
  const first = await openDir();
  const second = await openDir(first.dir);
  const old = await memoryIdentity(first.db, log);
  await first.db.deleteFrom('memory_identity').execute();
  const ids = await Promise.all([first.db, second.db, first.db, second.db].map((db) => memoryIdentity(db, log)));
  t.match(ids[0], UUID);
  t.not(ids[0], old);
  t.equal(new Set(ids).size, 1, 'the insert that lost the race reads the winner');
});

t.test('an id it cannot read: undefined (reported as none), with a warning', async (t) => {
  const { db } = await openDir();
  await db.schema.dropTable('memory_identity').execute();
  const out = new PassThrough();
  let lines = '';
  out.on('data', (chunk: Buffer) => (lines += chunk.toString()));
  t.equal(await memoryIdentity(db, createLogger('test', { level: 'warn', destination: out })), undefined);
  await new Promise((resolve) => setImmediate(resolve));
  t.match(lines, /cannot read the memory database's id/);
});
