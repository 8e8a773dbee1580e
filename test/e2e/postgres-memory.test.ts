import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import t from 'tap';
import { createLogger } from '../../common/logger.js';
import { commitTurn, discardTurn } from '../../workers/memory/delivery.js';
import { loadHistory } from '../../workers/memory/history.js';
import { memoryFailure } from '../../workers/memory-errors.js';
import { openMigratedMemory } from '../../workers/memory/open.js';
import { memoryIdentity } from '../../workers/memory/identity.js';
import { namedStatements } from '../../workers/memory/postgres-named-statements.js';
import { recordTurn, type NewTurn } from '../../workers/memory/turns.js';
import { redactDatabaseUrl, type MemorySettings } from '../../workers/memory/settings.js';
import { startTestPostgres } from '../helpers/postgres.js';
import { runScriptToExit, startWorkerProcess, type TestProcess } from '../helpers/processes.js';
import { chatTurn, startStack, twoTurnConversation } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

// Memory on PostgreSQL: a private server of this test's own (never the machine's), the same
// Kysely code and migrations as SQLite.
const postgres = await startTestPostgres();
t.teardown(() => postgres.dispose());

const settingsOf = (url: string, poolSize = 10, preparedStatements = true): MemorySettings => ({
  dialect: 'postgres',
  url,
  shownUrl: redactDatabaseUrl(url),
  poolSize,
  preparedStatements,
});

const turn = (requestId: string, sessionId: string, text = `answer of ${requestId}`): NewTurn => ({
  requestId,
  sessionId,
  tenant: 'tenant-a',
  agent: 'documentation',
  model: 'llama3.2',
  inputMessages: [{ role: 'user', content: `question of ${requestId}` }],
  assistantResponse: text,
  toolCalls: [],
  finishReason: 'stop',
  cached: false,
  promptTokens: 3,
  completionTokens: 4,
  durationMs: 5,
  private: false,
});

t.test('migrations: one set for both dialects, idempotent, also as npm run migrate', async (t) => {
  const url = await postgres.createDatabase('migrations');
  const first = await openMigratedMemory(settingsOf(url));
  t.same(first.applied, [
    '20261122T0200-create-sessions-and-turns',
    '20261122T1500-add-tool-calls-user-metadata',
    '20261122T1600-add-turns-private',
    '20261202T1600-turn-delivery',
    '20261202T1700-memory-probe',
    '20261203T0600-add-turns-previous-response',
    '20261203T0601-drop-turns-session-id-id',
    '20261205T1500-add-turns-pending-until',
    '20261205T2100-add-turns-requested-at',
    '20261207T0700-add-turns-refusal',
    '20261208T0900-memory-identity',
  ]);
  t.notOk(first.at.includes(postgres.password), 'the location shown has no password');
  t.match(first.at, /^DATABASE_URL \(postgres:\/\/agentbus:\*\*\*@127\.0\.0\.1:\d+\/migrations\)$/);
  await first.db.destroy();
  const second = await openMigratedMemory(settingsOf(url));
  t.same(second.applied, [], 'a second run applies nothing');
  await second.db.destroy();
  const run = await runScriptToExit('scripts/migrate.ts', [], { DATABASE_URL: url }, { teardown: t });
  t.equal(run.code, 0, run.stderr);
  t.match(run.stdout, /DATABASE_URL \(postgres:\/\/agentbus:\*\*\*@.*\): up to date/);
  t.notOk(run.stdout.includes(postgres.password));
});

t.test('one database id for all the workers of a PostgreSQL database, also when they race', async (t) => {
  const url = await postgres.createDatabase('identity');
  // Workers on many hosts start together: each migrates (under the migrator's lock) and reads the id.
  const opened = await Promise.all([1, 2, 3, 4].map(() => openMigratedMemory(settingsOf(url, 2))));
  t.teardown(() => Promise.all(opened.map(({ db }) => db.destroy())));
  const log = createLogger('test', { level: 'silent' });
  const ids = await Promise.all(opened.map(({ db }) => memoryIdentity(db, log)));
  t.match(ids[0], /^[0-9a-f-]{36}$/);
  t.equal(new Set(ids).size, 1, 'made once, by the migration');
  await opened[0]!.db.deleteFrom('memory_identity').execute();
  const remade = await Promise.all(opened.map(({ db }) => memoryIdentity(db, log)));
  t.not(remade[0], ids[0]);
  t.equal(new Set(remade).size, 1, 'a lost row is made again once: insert or nothing, then read');
  const other = await openMigratedMemory(settingsOf(await postgres.createDatabase('identity_other')));
  t.teardown(() => other.db.destroy());
  t.not(await memoryIdentity(other.db, log), remade[0], 'another database, another id');
});

t.test('delivery on PostgreSQL: idempotent by request id, commits numbered 1..n under concurrency', async (t) => {
  const { db } = await openMigratedMemory(settingsOf(await postgres.createDatabase('delivery'), 10));
  t.teardown(() => db.destroy());

  t.test('a redelivered request id stores once, also when both attempts write at once', async (t) => {
    t.equal(await recordTurn(db, turn('req-once', 'conv-once')), true);
    t.equal(await recordTurn(db, turn('req-once', 'conv-once')), false, 'the redelivery writes nothing');
    const racing = await Promise.all(
      Array.from({ length: 8 }, () => recordTurn(db, turn('req-race', 'conv-once'), 'pending')),
    );
    t.equal(racing.filter(Boolean).length, 1, 'exactly one of eight concurrent attempts stores it');
    const rows = await db.selectFrom('turns').select('request_id').where('session_id', '=', 'conv-once').execute();
    t.same(rows.map((r) => r.request_id).sort(), ['req-once', 'req-race']);
  });

  t.test('concurrent commits of one conversation get commit_seq 1..n, no gap, no duplicate', async (t) => {
    const n = 40;
    const ids = Array.from({ length: n }, (_, i) => `req-c${String(i).padStart(2, '0')}`);
    for (const id of ids) t.equal(await recordTurn(db, turn(id, 'conv-busy'), 'pending'), true);
    // Many connections of the pool commit at once; half also race a discard of another turn.
    const discarded = 'req-discarded';
    await recordTurn(db, turn(discarded, 'conv-busy'), 'pending');
    const results = await Promise.all([
      ...ids.map((id) => commitTurn(db, id, 'conv-busy')),
      discardTurn(db, discarded, 'conv-busy').then(() => true),
    ]);
    t.ok(results.every(Boolean), 'every commit took effect');
    const rows = await db
      .selectFrom('turns')
      .select(['request_id', 'commit_seq', 'state'])
      .where('session_id', '=', 'conv-busy')
      .orderBy('commit_seq')
      .execute();
    t.same(
      rows.map((r) => r.commit_seq),
      Array.from({ length: n }, (_, i) => i + 1),
    );
    t.ok(rows.every((r) => r.state === 'committed'));
    t.equal(typeof rows[0]?.commit_seq, 'number', 'integers come back as numbers');
    const session = await db
      .selectFrom('sessions')
      .select('turn_count')
      .where('id', '=', 'conv-busy')
      .executeTakeFirst();
    t.equal(session?.turn_count, n);
    t.equal(await commitTurn(db, discarded, 'conv-busy'), false, 'a discarded turn cannot be committed');
    t.equal(await commitTurn(db, ids[0]!, 'conv-busy'), false, 'nor a committed one again');
    // History is in commit order, which is what the clients received.
    const history = await loadHistory(db, 'conv-busy', 3, 'req-next');
    const expected = rows.slice(-3).flatMap((r) => [`question of ${r.request_id}`, `answer of ${r.request_id}`]);
    t.same(
      history.messages.map((m) => m.content),
      expected,
    );
  });

  t.test('a pending write refused or repeated leaves no trace', async (t) => {
    const sessionRow = (id: string) =>
      db.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    t.equal(await recordTurn(db, turn('req-mine', 'conv-owned'), 'pending'), true);
    const before = await sessionRow('conv-owned');
    const other = { ...turn('req-theirs', 'conv-owned'), tenant: 'tenant-b' };
    await t.rejects(recordTurn(db, other, 'pending'), { code: 'session_not_found' }, "another tenant's session");
    t.equal(await recordTurn(db, turn('req-mine', 'conv-owned'), 'pending'), false, 'a redelivery stores nothing');
    t.same(await sessionRow('conv-owned'), before, 'the session is untouched by both');
    const turns = await db.selectFrom('turns').select('request_id').where('session_id', '=', 'conv-owned').execute();
    t.same(
      turns.map((r) => r.request_id),
      ['req-mine'],
    );
    t.equal(await commitTurn(db, 'req-mine', 'conv-owned'), true);
    t.equal(await commitTurn(db, 'req-unknown', 'conv-owned'), false, 'no pending turn: nothing changes');
    t.equal((await sessionRow('conv-owned')).turn_count, 1, 'counted once');
  });

  t.test('a pending turn, once committed, holds every column the committed write stores', async (t) => {
    const full = (requestId: string): NewTurn => ({
      ...turn(requestId, 'conv-full', 'answer'),
      inputMessages: [{ role: 'user', content: 'the same question' }],
      toolCalls: [{ id: 'call_1', type: 'function', function: { name: 'look', arguments: '{"q":1}' } }],
      finishReason: 'tool_calls',
      cached: true,
      endUser: 'user-7',
      metadata: { team: 'qa' },
      private: true,
      previousResponseId: 'resp_prev',
      pendingUntil: 1_796_486_400_000,
      attempt: 2,
    });
    t.equal(await recordTurn(db, full('req-full-committed')), true);
    t.equal(await recordTurn(db, full('req-full-pending'), 'pending'), true);
    t.equal(await commitTurn(db, 'req-full-pending', 'conv-full'), true);
    const rows = await db.selectFrom('turns').selectAll().where('session_id', '=', 'conv-full').orderBy('id').execute();
    const [committed, pending] = rows.map(
      ({ id: _id, request_id: _r, commit_seq: _c, created_at: _t, ...rest }) => rest,
    );
    t.same(pending, committed);
    t.equal(committed?.private, 1);
    t.equal(Number(pending?.pending_until), 1_796_486_400_000, 'the one-statement write keeps it too');
  });

  t.test('a pending write that loses a race with its own redelivery leaves no trace', async (t) => {
    // A holds its write uncommitted; B, the same request, waits on the session row meanwhile.
    let second: Promise<boolean> | undefined;
    await db.transaction().execute(async (trx) => {
      t.equal(await recordTurn(trx, turn('req-raced', 'conv-raced'), 'pending'), true);
      second = recordTurn(db, turn('req-raced', 'conv-raced'), 'pending');
      await waitFor('the second write to wait for the first', async () => {
        const waiting = await sql<{ n: number }>`
          select count(*)::integer as n from pg_stat_activity
          where wait_event_type = 'Lock' and query like '%insert into sessions%'`.execute(db);
        return waiting.rows[0]!.n > 0;
      });
    });
    t.equal(await second, false, 'the second write stores nothing');
    await discardTurn(db, 'req-raced', 'conv-raced');
    const left = await db.selectFrom('sessions').select('id').where('id', '=', 'conv-raced').execute();
    t.same(left, [], 'the discarded first turn takes its session along: the loser did not touch it');
  });

  t.test('fan-out parts are told apart bytewise, whatever the database collation', async (t) => {
    for (const id of ['R1', 'R1.code_review', 'R1.aggregate', 'R10', 'R1_x', 'R2'])
      await recordTurn(db, turn(id, 'conv-fan'));
    const history = await loadHistory(db, 'conv-fan', 10, 'R1.code_generation');
    t.same(
      history.messages.filter((m) => m.role === 'assistant').map((m) => m.content),
      ['answer of R10', 'answer of R1_x', 'answer of R2'],
      "the request's own parts are left out, the others stay",
    );
    const later = await loadHistory(db, 'conv-fan', 10, 'R3');
    t.same(
      later.messages.filter((m) => m.role === 'assistant').map((m) => m.content),
      ['answer of R1.aggregate', 'answer of R10', 'answer of R1_x', 'answer of R2'],
      'a later request sees the fan-out once, as its synthesis',
    );
  });

  t.test('previous_response_id replays its branch: the links, then the history it began from', async (t) => {
    await recordTurn(db, turn('C1', 'conv-branch'));
    await recordTurn(db, turn('P1', 'conv-branch'));
    await recordTurn(db, { ...turn('P2', 'conv-branch'), previousResponseId: 'P1' });
    await recordTurn(db, { ...turn('P3', 'conv-branch'), previousResponseId: 'P1' });
    const history = await loadHistory(db, 'conv-branch', 10, 'P4', 'P3');
    t.same(
      history.messages.filter((m) => m.role === 'assistant').map((m) => m.content),
      ['answer of C1', 'answer of P1', 'answer of P3'],
    );
  });
});

t.test('memory statements are prepared once per connection, by name, up to a bound', async (t) => {
  const url = await postgres.createDatabase('prepared');
  // One connection, so the catalogue query below sees that connection's prepared statements.
  const { db } = await openMigratedMemory(settingsOf(url, 1));
  t.teardown(() => db.destroy());
  const prepared = async () =>
    (await sql<{ name: string; statement: string }>`select name, statement from pg_prepared_statements`.execute(db))
      .rows;
  const insertsTurn = (rows: { statement: string }[]) =>
    rows.some((row) => row.statement.includes('insert into "turns"'));
  await recordTurn(db, turn('req-p1', 'conv-p'));
  t.notOk(insertsTurn(await prepared()), 'a statement used once is not prepared');
  await recordTurn(db, turn('req-p2', 'conv-p'));
  const afterTwo = await prepared();
  t.ok(afterTwo.length > 0, 'used twice, it is');
  t.ok(
    afterTwo.every((row) => /^agentbus_[0-9a-f]{32}$/.test(row.name)),
    'named by a digest of its text: the same name in every process',
  );
  t.ok(insertsTurn(afterTwo), "the turn's insert among them");
  t.notOk(
    afterTwo.some((row) => /^(begin|commit)$/i.test(row.statement.trim())),
    'statements without parameters stay unnamed',
  );
  await recordTurn(db, turn('req-p3', 'conv-p'));
  t.equal((await prepared()).length, afterTwo.length, 'a third turn prepares nothing new');
  t.equal((await loadHistory(db, 'conv-p', 10, 'req-p4')).messages.length, 6, 'all three turns read back');

  const pool = new pg.Pool({ connectionString: url, max: 1 });
  const bounded = new Kysely<Record<string, never>>({
    dialect: new PostgresDialect({ pool: namedStatements(pool, 1) }),
  });
  t.teardown(() => bounded.destroy());
  for (let i = 0; i < 2; i++) {
    t.same((await sql<{ n: number }>`select ${1}::int as n`.execute(bounded)).rows, [{ n: 1 }]);
    t.same((await sql<{ n: number }>`select ${2}::int + 0 as n`.execute(bounded)).rows, [{ n: 2 }]);
  }
  const names = await sql<{ statement: string }>`select statement from pg_prepared_statements`.execute(bounded);
  t.same(names.rows, [{ statement: 'select $1::int as n' }], 'past the bound a statement runs unnamed');

  // DATABASE_PREPARED_STATEMENTS=off, for a pooler that does not keep them.
  const unnamed = await openMigratedMemory(settingsOf(url, 1, false));
  t.teardown(() => unnamed.db.destroy());
  await recordTurn(unnamed.db, turn('req-p5', 'conv-p'));
  await recordTurn(unnamed.db, turn('req-p6', 'conv-p'));
  const none = await sql<{ name: string }>`select name from pg_prepared_statements`.execute(unnamed.db);
  t.same(none.rows, [], 'off: nothing prepared');
});

t.test('a statement whose result the schema changed fails once, and its connection is replaced', async (t) => {
  const url = await postgres.createDatabase('schema_change');
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  const db = new Kysely<Record<string, never>>({ dialect: new PostgresDialect({ pool: namedStatements(pool) }) });
  t.teardown(() => db.destroy());
  await sql`create table notes (id integer, body text)`.execute(db);
  await sql`insert into notes values (1, 'one')`.execute(db);
  const read = () => sql`select * from notes where id = ${1}`.execute(db);
  await read();
  await read();
  // A newer worker's migration, while this one holds the statement prepared.
  await sql`alter table notes add column extra text`.execute(db);
  const failed = await read().catch((err: unknown) => err);
  t.match(memoryFailure(failed, 'DATABASE_URL (x)'), {
    code: 'memory_unavailable',
    message: /cached plan must not change result type.*try again/,
  });
  t.same((await read()).rows, [{ id: 1, body: 'one', extra: null }], 'the next try runs on a new connection');
});

t.test('the stack serves chat with memory on PostgreSQL; a follow-up sees its history', async (t) => {
  const stack = await startStack({ databaseUrl: await postgres.createDatabase('stack') });
  t.teardown(() => stack.close());
  const { first, second, prompt } = await twoTurnConversation(stack);
  t.equal(first.status, 200);
  t.equal(second.status, 200);
  t.equal(second.body['meta'].memory_used, true);
  t.same(prompt, ['Capital of France?', 'Paris.', 'Population?']);
  const rows = await stack.db.selectFrom('turns').select(['commit_seq', 'state']).orderBy('commit_seq').execute();
  t.same(rows, [
    { commit_seq: 1, state: 'committed' },
    { commit_seq: 2, state: 'committed' },
  ]);
});

t.test('worker processes sharing one PostgreSQL', async (t) => {
  const url = await postgres.createDatabase('shared');
  const stack = await startStack({ workerAgents: false, databaseUrl: url });
  t.teardown(() => stack.close());
  const workerEnv = {
    NATS_URL: stack.natsUrl,
    OLLAMA_URL: stack.ollama.url,
    DATA_DIR: stack.dataDir,
    DEFAULT_MODEL: 'llama3.2',
    DATABASE_URL: url,
    DATABASE_POOL_SIZE: '4',
    MEMORY_PROBE_INTERVAL_MS: '200',
    BACKEND_PROBE_INTERVAL_MS: '0',
  };
  const started: TestProcess[] = [];
  t.teardown(async () => {
    for (const worker of started) await worker.kill();
  });
  const startOne = async () => {
    const worker = await startWorkerProcess(workerEnv, ['documentation']);
    started.push(worker);
    return worker;
  };

  const a = await startOne();
  stack.ollama.behave({ tokens: ['Paris', '.'] });
  const first = await chatTurn(stack.baseUrl, 'Capital of France?');
  t.equal(first.status, 200);
  t.equal(first.body['meta'].worker, a.ready['id'], 'turn 1 answered by worker A');
  t.equal(await a.stop(), 0);

  const b = await startOne();
  stack.ollama.behave({ tokens: ['About', ' 2M'] });
  const second = await chatTurn(stack.baseUrl, 'Population?', first.body['conversation_id']);
  t.equal(second.status, 200);
  t.equal(second.body['meta'].worker, b.ready['id'], 'turn 2 answered by worker B');
  t.same(
    stack.ollama.requests
      .at(-1)!
      .messages.slice(1)
      .map((m) => m.content),
    ['Capital of France?', 'Paris.', 'Population?'],
    "worker B replays worker A's turn",
  );

  t.test(
    'PostgreSQL stopped: chat is 503 memory_unavailable, /ready 503 with the reason; then it recovers',
    async (t) => {
      await postgres.stop();
      const refused = await chatTurn(stack.baseUrl, 'Still there?', first.body['conversation_id']);
      t.equal(refused.status, 503);
      t.match(refused.body['error'], {
        code: 'memory_unavailable',
        message: /DATABASE_URL \(postgres:\/\/agentbus:\*\*\*@/,
      });
      t.notOk(JSON.stringify(refused.body).includes(postgres.password), 'no password in the answer');
      let reason = '';
      await waitFor('/ready to report the memory problem', async () => {
        const res = await fetch(`${stack.baseUrl}/ready`);
        reason = ((await res.json()) as { reason?: string }).reason ?? '';
        return res.status === 503 && /memory/.test(reason);
      });
      t.match(reason, /cannot write its memory .*ECONNREFUSED|cannot write its memory/);

      await postgres.start();
      await waitFor('/ready to be 200 again', async () => (await fetch(`${stack.baseUrl}/ready`)).status === 200);
      stack.ollama.behave({ tokens: ['Yes'] });
      const back = await chatTurn(stack.baseUrl, 'Still there?', first.body['conversation_id']);
      t.equal(back.status, 200, 'served again once PostgreSQL is back');
    },
  );
});

t.test('wrong credentials stop the worker with an error naming DATABASE_URL, never the password', async (t) => {
  const wrong = postgres.url.replace(encodeURIComponent(postgres.password), 'not-the-password-123');
  const run = await runScriptToExit(
    'workers/main.ts',
    ['--agents', 'documentation'],
    { DATABASE_URL: wrong, NATS_URL: 'nats://127.0.0.1:1', LOG_FORMAT: 'json' },
    { teardown: t, timeoutMs: 45_000 },
  );
  const output = run.stdout + run.stderr;
  t.equal(run.code, 1);
  t.match(
    output,
    /cannot open the memory database at DATABASE_URL \(postgres:\/\/agentbus:\*\*\*@127\.0\.0\.1:\d+\/agentbus\)/,
  );
  t.match(output, /password authentication failed/);
  t.notOk(output.includes('not-the-password-123'), 'the password is not printed');

  // The same check opens memory for npm start and npm run migrate: a server that is not there.
  const closed = 'postgres://agentbus:secret-pw@127.0.0.1:1/agentbus';
  const failure = await openMigratedMemory(settingsOf(closed)).catch((err: unknown) => err as Error);
  t.match(failure, {
    message:
      /^cannot open the memory database at DATABASE_URL \(postgres:\/\/agentbus:\*\*\*@127\.0\.0\.1:1\/agentbus\): .*ECONNREFUSED/,
  });
  t.notOk((failure as Error).message.includes('secret-pw'));
});
