import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { memoryDatabasePath, openMemoryDatabase } from '../../workers/memory/database.js';
import { migrateToLatest } from '../../workers/memory/migrate.js';
import { resolveSession } from '../../workers/memory/sessions.js';
import { loadHistory, recordTurn, type NewTurn } from '../../workers/memory/turns.js';
import { sql } from 'kysely';

const dir = mkdtempSync(join(tmpdir(), 'agentbus-mem-'));
const db = openMemoryDatabase(memoryDatabasePath(dir));
t.teardown(async () => {
  await db.destroy();
  rmSync(dir, { recursive: true, force: true });
});

const turn = (over: Partial<NewTurn> = {}): NewTurn => ({
  requestId: 'chatcmpl-1',
  sessionId: 'conv_1',
  tenant: 'key_a',
  agent: 'testing',
  model: 'm',
  inputMessages: [{ role: 'user', content: 'q' }],
  assistantResponse: 'a',
  toolCalls: [],
  finishReason: 'stop',
  cached: false,
  promptTokens: 1,
  completionTokens: 1,
  durationMs: 5,
  private: false,
  ...over,
});

t.test('migrations apply once and set WAL mode', async (t) => {
  t.same(await migrateToLatest(db), [
    '20261122T0200-create-sessions-and-turns',
    '20261122T1500-add-tool-calls-user-metadata',
    '20261122T1600-add-turns-private',
  ]);
  t.same(await migrateToLatest(db), [], 'second run applies nothing');
  const mode = await sql<{ journal_mode: string }>`pragma journal_mode`.execute(db);
  t.equal(mode.rows[0]?.journal_mode, 'wal');
});

t.test('a turn is written once per request id', async (t) => {
  t.equal(await recordTurn(db, turn()), true);
  t.equal(await recordTurn(db, turn({ assistantResponse: 'different' })), false, 'redelivery writes nothing');
  t.equal(
    await recordTurn(db, turn({ sessionId: 'conv_other' })),
    false,
    'a replay into another session writes nothing either',
  );
  t.equal(
    await db.selectFrom('sessions').selectAll().where('id', '=', 'conv_other').executeTakeFirst(),
    undefined,
    'not even the session row',
  );
  const rows = await db.selectFrom('turns').selectAll().execute();
  t.equal(rows.length, 1);
  t.equal(rows[0]!.assistant_response, 'a');
  const session = await db.selectFrom('sessions').selectAll().executeTakeFirstOrThrow();
  t.equal(session.turn_count, 1, 'the session counter moved once');
});

t.test("a turn for another tenant's session is refused and leaves no row behind", async (t) => {
  await t.rejects(recordTurn(db, turn({ requestId: 'chatcmpl-2', tenant: 'key_b' })), { code: 'session_not_found' });
  t.equal((await db.selectFrom('turns').selectAll().execute()).length, 1);
});

t.test('resolveSession: by id, by completion id; unknown and foreign ids look the same', async (t) => {
  t.same(await resolveSession(db, 'conv_1', 'key_a', false), { id: 'conv_1', exists: true });
  t.same(await resolveSession(db, 'chatcmpl-1', 'key_a', false), { id: 'conv_1', exists: true });
  t.same(
    await resolveSession(db, 'conv_1', 'key_a', true),
    { id: 'conv_1', exists: true },
    'create on an existing own session continues it',
  );
  t.same(
    await resolveSession(db, 'new-one', 'key_a', true),
    { id: 'new-one', exists: false },
    'create starts a new conversation',
  );
  await t.rejects(resolveSession(db, 'new-one', 'key_a', false), {
    code: 'session_not_found',
    message: /send no session id/,
  });
  await t.rejects(resolveSession(db, 'conv_1', 'key_b', false), { code: 'session_not_found' });
  await t.rejects(resolveSession(db, 'chatcmpl-1', 'key_b', false), { code: 'session_not_found' });
  await t.rejects(
    resolveSession(db, 'conv_1', 'key_b', true),
    { code: 'session_not_found' },
    'create never takes over a foreign session',
  );
});

t.test('history is bounded by the window and returned oldest first', async (t) => {
  for (let i = 2; i <= 5; i++)
    await recordTurn(
      db,
      turn({
        requestId: `chatcmpl-${i}`,
        inputMessages: [{ role: 'user', content: `q${i}` }],
        assistantResponse: `a${i}`,
      }),
    );
  const history = await loadHistory(db, 'conv_1', 2, 'chatcmpl-6');
  t.same(history.messages, [
    { role: 'user', content: 'q4' },
    { role: 'assistant', content: 'a4' },
    { role: 'user', content: 'q5' },
    { role: 'assistant', content: 'a5' },
  ]);
  t.same((await loadHistory(db, 'conv_1', 0, 'chatcmpl-6')).messages, []);
});
