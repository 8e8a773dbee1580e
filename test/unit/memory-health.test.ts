import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import t from 'tap';
import { watchMemory } from '../../workers/memory/health.js';
import { memoryDatabasePath, openMemoryDatabase } from '../../workers/memory/database.js';
import { migrateToLatest } from '../../workers/memory/migrate.js';
import type { MemoryDatabase } from '../../workers/memory/schema.js';
import { memoryFailure, memoryProblemOf, memoryUnwritable } from '../../workers/memory-errors.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { recordingLogger } from '../helpers/fake-provider.js';

// The memory write probe on real SQLite files: a writable one, and the same file opened
// read-only (as a read-only mount or a full disk refuses writes: a read would still work).

const dir = mkdtempSync(join(tmpdir(), 'agentbus-health-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const file = memoryDatabasePath(dir);
const writable = openMemoryDatabase(file);
await migrateToLatest(writable);
const readOnly = new Kysely<MemoryDatabase>({
  dialect: new SqliteDialect({ database: new SQLite(file, { readonly: true }) }),
});
t.teardown(async () => {
  await writable.destroy();
  await readOnly.destroy();
});

t.test('a database that takes writes has no problem; one that refuses them says why', async (t) => {
  const { log, lines } = recordingLogger();
  const good = watchMemory(writable, { intervalMs: 0, worker: 'w1', log });
  await good.probeNow();
  t.equal(good.problem, undefined);
  const bad = watchMemory(readOnly, { intervalMs: 0, worker: 'w1', log });
  await bad.probeNow();
  t.match(bad.problem, /readonly/i);
  t.equal(lines.filter((line) => line['level'] === 50).length, 1, 'one error line for the change');
  await bad.probeNow();
  t.equal(lines.filter((line) => line['level'] === 50).length, 1, 'not one per probe');
});

t.test('a failed request write is a problem until the next probe succeeds', async (t) => {
  const clock = new FakeClock();
  const { log } = recordingLogger();
  const health = watchMemory(writable, { intervalMs: 5000, worker: 'w1', log, clock });
  health.failed(new Error('SQLITE_FULL: database or disk is full'));
  t.match(health.problem, /disk is full/);
  await clock.advance(5000);
  t.equal(health.problem, undefined, 'the probe found it writable again');
  health.stop();
});

t.test("SQLite's codes for an unwritable database become memory_unavailable, naming DATA_DIR", async (t) => {
  const readOnlyWrite = await readOnly
    .insertInto('memory_probe')
    .values({ id: 2, checked_at: 'x', worker: 'w' })
    .execute()
    .catch((err: unknown) => err);
  const failure = memoryFailure(readOnlyWrite, 'DATA_DIR (/srv/agentbus)') as {
    code: string;
    status: number;
    message: string;
  };
  t.match(failure, { code: 'memory_unavailable', status: 503, message: /DATA_DIR \(\/srv\/agentbus\)/ });
  const other = new Error('not a database problem');
  t.equal(memoryFailure(other, '/srv'), other, 'anything else passes as it is');
  // A pooler in transaction mode loses or doubles the statements agentbus prepared.
  const lost = Object.assign(new Error('prepared statement "agentbus_3" does not exist'), { code: '26000' });
  t.match(memoryFailure(lost, 'DATABASE_URL (postgres://a:***@db/a)'), {
    code: 'memory_unavailable',
    message: /agentbus_3.*DATABASE_PREPARED_STATEMENTS=off/,
  });
  t.match(memoryProblemOf(lost), /agentbus_3.*set DATABASE_PREPARED_STATEMENTS=off/, '/ready says what to set');
  t.equal(memoryUnwritable(lost), true, 'requests are refused until the probe writes');
  const stale = Object.assign(new Error('cached plan must not change result type'), { code: '0A000' });
  t.match(memoryFailure(stale, 'DATABASE_URL (x)'), { code: 'memory_unavailable', message: /try again/ });
  t.equal(memoryUnwritable(stale), false, 'a stale statement is not an unwritable database: the next try works');
  const someoneElses = Object.assign(new Error('prepared statement "mine" does not exist'), { code: '26000' });
  t.equal(memoryFailure(someoneElses, 'DATABASE_URL (x)'), someoneElses, 'a statement not ours passes as it is');
});

t.test('without a periodic probe, a request that meets a problem has it probed again', async (t) => {
  const clock = new FakeClock();
  const { log } = recordingLogger();
  const health = watchMemory(writable, { intervalMs: 0, worker: 'w1', log, clock });
  health.failed(new Error('SQLITE_FULL: database or disk is full'));
  t.match(health.problem, /disk is full/, 'the request that met it is refused');
  await clock.advance(0);
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(health.problem, undefined, 'the probe it started found the database writable: the next one is served');
  health.failed(new Error('SQLITE_FULL: database or disk is full'));
  t.match(health.problem, /disk is full/);
  await new Promise((resolve) => setImmediate(resolve));
  t.match(health.problem, /disk is full/, 'probed at most once a second');
  await clock.advance(1000);
  t.match(health.problem, /disk is full/, 'a second later, that read starts a probe');
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(health.problem, undefined);
  health.stop();
});

t.test('a stopped watch probes no more, as its worker shuts down', async (t) => {
  const clock = new FakeClock();
  const { log, lines } = recordingLogger();
  const health = watchMemory(readOnly, { intervalMs: 0, worker: 'w1', log, clock });
  health.failed(new Error('SQLITE_FULL: database or disk is full'));
  health.stop();
  await clock.advance(1000);
  t.match(health.problem, /disk is full/);
  await new Promise((resolve) => setImmediate(resolve));
  t.match(health.problem, /disk is full/, 'no probe ran: the read-only database would have said readonly');
  t.equal(lines.filter((line) => line['level'] === 50).length, 1, 'no error logged after the stop');
});
