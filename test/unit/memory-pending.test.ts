import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely } from 'kysely';
import t from 'tap';
import { commitTurn } from '../../workers/memory/delivery.js';
import { lastTurns } from '../../workers/memory/last-turns.js';
import { migrateToLatest } from '../../workers/memory/migrate.js';
import { isPending, settledSession } from '../../workers/memory/pending.js';
import type { MemoryDatabase } from '../../workers/memory/schema.js';
import { queuedSqliteDialect } from '../../workers/memory/sqlite-dialect.js';
import { recordTurn } from '../../workers/memory/turns.js';
import { FakeClock, settle } from '../helpers/fake-clock.js';
import { newTurn } from '../helpers/turns.js';

// The memory database with every statement's SQL kept, so a test can ask SQLite how it runs one.
const dir = mkdtempSync(join(tmpdir(), 'agentbus-pending-'));
const sqlite = new SQLite(join(dir, 'memory.sqlite'));
const statements: string[] = [];
const db = new Kysely<MemoryDatabase>({
  dialect: queuedSqliteDialect({
    database: {
      prepare: (text: string) => {
        statements.push(text);
        return sqlite.prepare(text);
      },
      close: () => sqlite.close(),
    },
  }),
});
t.teardown(async () => {
  await db.destroy();
  rmSync(dir, { recursive: true, force: true });
});

// One look, no waiting: the verdict of the moment.
const once = { maxWaitMs: 0, everyMs: 5, clock: new FakeClock() };

t.before(async () => {
  await migrateToLatest(db);
  for (let i = 1; i <= 30; i++) {
    await recordTurn(db, newTurn({ requestId: `chatcmpl-old${i}`, sessionId: 'conv_long' }), 'pending');
    await commitTurn(db, `chatcmpl-old${i}`, 'conv_long');
  }
});

t.test('a conversation whose turns are all committed is settled', async (t) => {
  t.equal(await settledSession(db, 'conv_long', 'chatcmpl-new', once), true);
});

t.test("another request's pending turn unsettles it; the request's own and its parts' do not", async (t) => {
  await recordTurn(db, newTurn({ requestId: 'chatcmpl-mine.code', sessionId: 'conv_long' }), 'pending');
  t.equal(await settledSession(db, 'conv_long', 'chatcmpl-mine', once), true, 'a fan-out part of the asker');
  await recordTurn(db, newTurn({ requestId: 'chatcmpl-other', sessionId: 'conv_long' }), 'pending');
  t.equal(await settledSession(db, 'conv_long', 'chatcmpl-mine', once), false);
  await commitTurn(db, 'chatcmpl-other', 'conv_long');
  t.equal(await settledSession(db, 'conv_long', 'chatcmpl-mine', once), true, 'settled once committed');
});

t.test('the check finds pending turns through the index, without visiting the history', async (t) => {
  statements.length = 0;
  await settledSession(db, 'conv_long', 'chatcmpl-new', once);
  const [check] = statements.filter((text) => /from "turns"/i.test(text));
  if (!check) return t.fail('no statement read the turns');
  // The plan, not a timing: a scan of the session's index range would read every turn it ever had.
  const plan = sqlite.prepare(`explain query plan ${check}`).all(
    ...check
      .split('?')
      .slice(1)
      .map(() => 'x'),
  ) as { detail: string }[];
  t.match(
    plan.map((step) => step.detail).join('\n'),
    /USING INDEX turns_session_commit_seq \(session_id=\? AND commit_seq=\?\)/,
  );
});

t.test('/memory/last waits for pending turns, so it lists an answer its client just received', async (t) => {
  await recordTurn(db, newTurn({ requestId: 'chatcmpl-l1', sessionId: 'conv_listed' }), 'pending');
  await commitTurn(db, 'chatcmpl-l1', 'conv_listed');
  await recordTurn(db, newTurn({ requestId: 'chatcmpl-l2', sessionId: 'conv_listed' }), 'pending');
  const clock = new FakeClock();
  const wait = { maxWaitMs: 2000, everyMs: 5, clock };
  const listing = lastTurns(db, 'conv_listed', 'key_a', 5, wait);
  for (let i = 0; i < 20 && clock.pending === 0; i++) await settle();
  t.equal(clock.pending, 1, 'it waits while chatcmpl-l2 is pending');
  // The receipt arrives: the turn is committed.
  await commitTurn(db, 'chatcmpl-l2', 'conv_listed');
  await clock.advance(5);
  t.same(
    (await listing).turns.map((turn) => turn.request_id),
    ['chatcmpl-l2', 'chatcmpl-l1'],
  );

  // An answer never received stays pending: after the wait, the list is what is committed.
  await recordTurn(db, newTurn({ requestId: 'chatcmpl-l3', sessionId: 'conv_listed' }), 'pending');
  const late = lastTurns(db, 'conv_listed', 'key_a', 5, wait);
  for (let i = 0; i < 20 && clock.pending === 0; i++) await settle();
  await clock.advance(2000);
  t.same(
    (await late).turns.map((turn) => turn.request_id),
    ['chatcmpl-l2', 'chatcmpl-l1'],
  );
});

t.test('a pending turn past its pending_until was left by a dead worker: nobody waits for it', async (t) => {
  const at = new FakeClock(Date.UTC(2026, 11, 5, 12));
  const look = { maxWaitMs: 0, everyMs: 5, clock: at };
  const until = at.now() + 60_000;
  await recordTurn(
    db,
    newTurn({ requestId: 'chatcmpl-orphan', sessionId: 'conv_orphan', pendingUntil: until }),
    'pending',
  );
  t.equal(await settledSession(db, 'conv_orphan', 'chatcmpl-next', look), false, 'awaited while its writer waits');
  t.equal(await isPending(db, 'chatcmpl-orphan', at), true);
  await at.advance(60_001);
  t.equal(await settledSession(db, 'conv_orphan', 'chatcmpl-next', look), true, 'then left behind');
  t.equal(await isPending(db, 'chatcmpl-orphan', at), false);
});
