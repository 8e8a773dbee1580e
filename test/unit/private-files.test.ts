import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { sql } from 'kysely';
import { DailyFile } from '../../gateway/trace-log/daily-file.js';
import { memoryDatabasePath, openMemoryDatabase } from '../../workers/memory/database.js';
import { migrateToLatest } from '../../workers/memory/migrate.js';

// Finding 7 of issue 18: with umask 0000 the memory database, its -wal and -shm and the trace
// logs came out world-readable (0644, DATA_DIR 0755). Each check runs under that umask.

const root = mkdtempSync(join(tmpdir(), 'agentbus-modes-'));
const previous = process.umask(0o000);
t.teardown(() => {
  process.umask(previous);
  rmSync(root, { recursive: true, force: true });
});
const modeOf = (path: string) => statSync(path).mode & 0o777;

t.test('a new DATA_DIR is 0700, the database and its -wal and -shm 0600', async (t) => {
  const dataDir = join(root, 'fresh', 'data');
  const file = memoryDatabasePath(dataDir);
  const db = openMemoryDatabase(file);
  await migrateToLatest(db);
  await sql`select count(*) from turns`.execute(db);
  t.equal(modeOf(dataDir).toString(8), '700');
  for (const path of [file, `${file}-wal`, `${file}-shm`]) t.equal(modeOf(path).toString(8), '600', path);
  await db.destroy();
});

t.test('an existing world-readable DATA_DIR and database are narrowed at open', async (t) => {
  const dataDir = join(root, 'old');
  mkdirSync(dataDir, { mode: 0o755 });
  const file = memoryDatabasePath(dataDir);
  writeFileSync(file, '', { mode: 0o644 });
  writeFileSync(`${file}-shm`, '', { mode: 0o644 });
  chmodSync(dataDir, 0o755);
  const db = openMemoryDatabase(file);
  await migrateToLatest(db);
  t.equal(modeOf(dataDir).toString(8), '700');
  for (const path of [file, `${file}-wal`, `${file}-shm`]) t.equal(modeOf(path).toString(8), '600', path);
  await db.destroy();
});

t.test('a trace log and its new directory are the owner’s only, old files too', async (t) => {
  const logDir = join(root, 'logs', 'deep');
  const log = new DailyFile(join(logDir, 'code_review.log'));
  log.write('a line\n');
  await log.close();
  t.equal(modeOf(logDir).toString(8), '700');
  t.equal(modeOf(join(logDir, 'code_review.log')).toString(8), '600');
  const old = join(logDir, 'testing.log');
  writeFileSync(old, 'x\n', { mode: 0o644 });
  const again = new DailyFile(old);
  again.write('b\n');
  await again.close();
  t.equal(modeOf(old).toString(8), '600', 'a log left 0644 by an earlier version');
});

t.test('a sticky shared directory (a DATA_DIR of /tmp) is not narrowed', async (t) => {
  const shared = join(root, 'shared');
  mkdirSync(shared);
  chmodSync(shared, 0o1777);
  const db = openMemoryDatabase(memoryDatabasePath(shared));
  t.equal(statSync(shared).mode & 0o7777, 0o1777);
  t.equal(modeOf(memoryDatabasePath(shared)).toString(8), '600');
  await db.destroy();
});
