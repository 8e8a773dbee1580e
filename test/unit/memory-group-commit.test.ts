import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { memoryDatabasePath, openMemoryDatabase } from '../../workers/memory/database.js';
import { commitTurn, discardTurn, findTurn } from '../../workers/memory/delivery.js';
import { inTurnTransaction } from '../../workers/memory/group-commit.js';
import { migrateToLatest } from '../../workers/memory/migrate.js';
import { recordTurn, type NewTurn } from '../../workers/memory/turns.js';
import { newTurn } from '../helpers/turns.js';

// Turn writes of concurrent requests share one SQLite transaction (issue 21): each must still
// succeed or fail on its own, and be answered only once the shared transaction is over.

const dir = mkdtempSync(join(tmpdir(), 'agentbus-group-'));
const db = openMemoryDatabase(memoryDatabasePath(dir));
t.before(() => migrateToLatest(db));
t.teardown(async () => {
  await db.destroy();
  rmSync(dir, { recursive: true, force: true });
});

const turn = (requestId: string, over: Partial<NewTurn> = {}) =>
  newTurn({ requestId, sessionId: 'conv_g', assistantResponse: `answer of ${requestId}`, ...over });

t.test('a write that throws in a shared transaction rolls back its own statements only', async (t) => {
  await recordTurn(db, turn('g-other', { sessionId: 'conv_other', tenant: 'key_b' }));
  const results = await Promise.allSettled([
    recordTurn(db, turn('g-1'), 'pending'),
    // Another tenant's session: refused, and its session touch undone.
    recordTurn(db, turn('g-2', { sessionId: 'conv_other' }), 'pending'),
    recordTurn(db, turn('g-3'), 'pending'),
    recordTurn(db, turn('g-1'), 'pending'), // a replay: false, nothing changes
  ]);
  t.same(
    results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as { code?: string }).code)),
    [true, 'session_not_found', true, false],
  );
  t.equal((await findTurn(db, 'g-2'))?.state, undefined);
  const other = await db.selectFrom('sessions').selectAll().where('id', '=', 'conv_other').executeTakeFirstOrThrow();
  t.equal(other.turn_count, 1, 'the refused write left the other session as it was');
});

t.test('concurrent commits number the turns in order and refuse a turn no longer pending', async (t) => {
  await discardTurn(db, 'g-3', 'conv_g');
  const committed = await Promise.all([commitTurn(db, 'g-1', 'conv_g'), commitTurn(db, 'g-3', 'conv_g')]);
  t.same(committed, [true, false]);
  const session = await db.selectFrom('sessions').selectAll().where('id', '=', 'conv_g').executeTakeFirstOrThrow();
  t.equal(session.turn_count, 1, 'the refused commit did not count');
  t.equal((await findTurn(db, 'g-1'))?.state, 'committed');
});

t.test('every write of a batch is answered only after its transaction committed', async (t) => {
  const order: string[] = [];
  const write = (name: string) =>
    inTurnTransaction(db, async (trx) => {
      await trx.updateTable('sessions').set({ updated_at: name }).where('id', '=', 'conv_g').execute();
      order.push(`ran ${name}`);
    }).then(() => order.push(`answered ${name}`));
  await Promise.all([write('a'), write('b'), write('c')]);
  t.same(order, ['ran a', 'ran b', 'ran c', 'answered a', 'answered b', 'answered c'], 'one transaction for three');
  const session = await db.selectFrom('sessions').selectAll().where('id', '=', 'conv_g').executeTakeFirstOrThrow();
  t.equal(session.updated_at, 'c');
});

t.test('a write that gathers nobody (one request in flight) commits within the event-loop turn', async (t) => {
  let turnEnded = false;
  setImmediate(() => (turnEnded = true));
  t.equal(await recordTurn(db, turn('g-alone'), 'pending', { gather: false }), true);
  t.equal(turnEnded, false, 'answered before the check phase: its done leaves in the same socket write');
  t.equal(await commitTurn(db, 'g-alone', 'conv_g', { gather: false }), true);
  t.equal((await findTurn(db, 'g-alone'))?.state, 'committed');
});
