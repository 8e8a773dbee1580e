import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { openMemoryDatabase } from '../../workers/memory/database.js';
import { directStatementsOf } from '../../workers/memory/direct-statements.js';
import { migrateToLatest } from '../../workers/memory/migrate.js';
import type { MemoryDatabase } from '../../workers/memory/schema.js';
import { lookupSession, resolveSession } from '../../workers/memory/sessions.js';
import { recordTurn, type NewTurn } from '../../workers/memory/turns.js';

// The worker's hot memory functions run their statements on better-sqlite3 directly; a
// database opened without openMemoryDatabase goes through Kysely. Both must store and find
// exactly the same rows.
const dir = mkdtempSync(join(tmpdir(), 'agentbus-direct-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const turn = (requestId: string, sessionId: string, extra: Partial<NewTurn> = {}): NewTurn => ({
  requestId,
  sessionId,
  tenant: 'tenant-a',
  agent: 'testing',
  model: 'm',
  inputMessages: [
    { role: 'user', content: 'hello' },
    { role: 'user', content: 'again' },
  ],
  assistantResponse: 'hi',
  toolCalls: [],
  finishReason: 'stop',
  cached: false,
  promptTokens: 3,
  completionTokens: 1,
  durationMs: 7,
  private: false,
  ...extra,
});

async function scenario(db: Kysely<MemoryDatabase>) {
  const out: unknown[] = [];
  out.push(await resolveSession(db, 'conv_1', 'tenant-a', true));
  out.push(await recordTurn(db, turn('chatcmpl-1', 'conv_1')));
  out.push(await recordTurn(db, turn('chatcmpl-1', 'conv_1'))); // a redelivery: false
  out.push(
    await recordTurn(
      db,
      turn('chatcmpl-2.other', 'conv_1', {
        toolCalls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } }],
        endUser: 'u',
        metadata: { k: 'v' },
        cached: true,
        private: true,
      }),
    ),
  );
  out.push(
    await recordTurn(db, turn('chatcmpl-3', 'conv_1', { tenant: 'tenant-b' })).catch(
      (err: { code?: string }) => err.code,
    ),
  );
  for (const ref of ['conv_1', 'chatcmpl-1', 'chatcmpl-2', 'nothing']) out.push(await lookupSession(db, ref));
  out.push(await resolveSession(db, 'chatcmpl-1', 'tenant-a', false));
  out.push(await resolveSession(db, 'conv_1', 'tenant-b', true).catch((err: { code?: string }) => err.code));
  const strip = <T extends { created_at?: string; updated_at?: string }>(rows: T[]) =>
    rows.map(({ created_at: _c, updated_at: _u, ...rest }) => rest);
  out.push(strip(await db.selectFrom('sessions').selectAll().execute()));
  out.push(strip(await db.selectFrom('turns').selectAll().orderBy('id').execute()));
  return out;
}

t.test('direct statements and Kysely store and find the same rows', async (t) => {
  const direct = openMemoryDatabase(join(dir, 'direct.sqlite'));
  await migrateToLatest(direct);
  t.ok(directStatementsOf(direct), 'openMemoryDatabase enables the direct path');
  const viaKysely = new Kysely<MemoryDatabase>({
    dialect: new SqliteDialect({ database: new SQLite(join(dir, 'kysely.sqlite')) }),
  });
  await migrateToLatest(viaKysely);
  t.equal(directStatementsOf(viaKysely), undefined, 'any other Kysely goes through Kysely');
  t.teardown(async () => {
    await direct.destroy();
    await viaKysely.destroy();
  });
  const a = await scenario(direct);
  const b = await scenario(viaKysely);
  t.same(a, b);
  t.equal(a[2], false, 'a redelivered request writes nothing');
  t.equal(a[4], 'session_not_found', "another tenant's session refused, nothing written");
});

t.test("inside a Kysely transaction the functions use that transaction's connection through Kysely", async (t) => {
  const db = openMemoryDatabase(join(dir, 'tx.sqlite'));
  await migrateToLatest(db);
  t.teardown(() => db.destroy());
  await db.transaction().execute(async (trx) => {
    t.equal(directStatementsOf(db), undefined, 'no direct statements while a transaction is open');
    await trx
      .insertInto('sessions')
      .values({ id: 'conv_t', tenant: 'tenant-a', agent: 'testing', created_at: 'x', updated_at: 'x', turn_count: 0 })
      .execute();
  });
  t.same(await lookupSession(db, 'conv_t'), { id: 'conv_t', tenant: 'tenant-a' });
});
