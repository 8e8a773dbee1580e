import t from 'tap';
import { commitTurn } from '../../workers/memory/delivery.js';
import { openMemory } from '../../workers/memory/database.js';
import { openMigratedMemory } from '../../workers/memory/open.js';
import { loadHistory } from '../../workers/memory/history.js';
import { redactDatabaseUrl, type MemorySettings } from '../../workers/memory/settings.js';
import { recordTurn } from '../../workers/memory/turns.js';
import { memoryFailure } from '../../workers/memory-errors.js';
import { startPgbouncer } from '../helpers/pgbouncer.js';
import { startTestPostgres } from '../helpers/postgres.js';
import { startStack, twoTurnConversation } from '../helpers/stack.js';
import { newTurn } from '../helpers/turns.js';

// Memory through a real connection pooler in transaction mode (Debian's pgbouncer, 1.18 on
// bookworm: it does not keep prepared statements), two server connections for many clients.
const postgres = await startTestPostgres();
t.teardown(() => postgres.dispose());
const direct = await postgres.createDatabase('pooled');
const pooler = await startPgbouncer(direct, 2);
t.teardown(() => pooler.dispose());

const settingsOf = (url: string, preparedStatements: boolean): MemorySettings => ({
  dialect: 'postgres',
  url,
  shownUrl: redactDatabaseUrl(url),
  poolSize: 4,
  preparedStatements,
});
// Migrated on the server directly, as operations.md advises behind such a pooler (the migrator's
// lock is a session's); the workers started through the pooler then find nothing to apply.
await (await openMigratedMemory(settingsOf(direct, false))).db.destroy();
const turn = (requestId: string, sessionId: string) => newTurn({ requestId, sessionId });

t.test('DATABASE_PREPARED_STATEMENTS=off: the stack serves through the pooler', async (t) => {
  const stack = await startStack({ databaseUrl: pooler.url, env: { DATABASE_PREPARED_STATEMENTS: 'off' } });
  t.teardown(() => stack.close());
  const { first, second, prompt } = await twoTurnConversation(stack);
  t.equal(first.status, 200);
  t.equal(second.status, 200);
  t.same(prompt, ['Capital of France?', 'Paris.', 'Population?'], 'the follow-up saw the first turn');

  // Many writers at once, pending then committed, over four client and two server connections.
  const db = openMemory(settingsOf(pooler.url, false));
  t.teardown(() => db.destroy());
  await Promise.all(
    Array.from({ length: 24 }, async (_, i) => {
      const ids = [`req-off-${i}`, `conv-off-${i % 3}`] as const;
      t.equal(await recordTurn(db, turn(...ids), 'pending'), true);
      t.equal(await commitTurn(db, ...ids), true);
    }),
  );
  const history = await loadHistory(db, 'conv-off-0', 20, 'req-next');
  t.equal(history.messages.length, 16, 'eight turns of one conversation read back');
});

t.test('prepared statements (the default) through such a pooler: memory_unavailable naming the setting', async (t) => {
  const db = openMemory(settingsOf(pooler.url, true));
  t.teardown(() => db.destroy());
  const results = await Promise.allSettled(
    Array.from({ length: 8 }, (_, i) => recordTurn(db, turn(`req-on-${i}`, `conv-on-${i}`), 'pending')),
  );
  const failures = results.flatMap((result) =>
    result.status === 'rejected' ? [memoryFailure(result.reason, 'DATABASE_URL (pooled)')] : [],
  );
  // Four clients prepare the same statement on two server connections: some find it there.
  t.ok(failures.length > 0, 'some writes fail');
  for (const failure of failures)
    t.match(failure, {
      code: 'memory_unavailable',
      message: /DATABASE_URL \(pooled\): prepared statement "agentbus_[0-9a-f]{32}" .*DATABASE_PREPARED_STATEMENTS=off/,
    });
});
