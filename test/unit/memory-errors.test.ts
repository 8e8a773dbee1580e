import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import t from 'tap';
import {
  decodeMemoryLastReply,
  decodeMemoryResponseReply,
  encodeJson,
  PROTOCOL_VERSION,
} from '../../bus-schemas/index.js';
import { memoryDatabasePath, openMemoryDatabase } from '../../workers/memory/database.js';
import { memoryFailure, memoryProblemOf, memoryUnwritable } from '../../workers/memory-errors.js';
import { handleMemoryQuery } from '../../workers/memory-query-handler.js';
import { handleMemoryResponseQuery } from '../../workers/memory-response-handler.js';
import { recordingLogger } from '../helpers/fake-provider.js';

// PostgreSQL's errors as `pg` reports them (its DatabaseError with the server's fields), each
// mapped to 503 memory_unavailable naming DATABASE_URL and what to do.

const AT = 'DATABASE_URL (postgres://agentbus:***@db:5432/agentbus)';

function pgError(code: string, message: string, severity = 'FATAL', routine?: string): pg.DatabaseError {
  return Object.assign(new pg.DatabaseError(message, message.length, 'error'), { code, severity, routine });
}

const cases: [string, pg.DatabaseError | Error, RegExp][] = [
  [
    'a database closed to connections (55000)',
    pgError('55000', 'database "agentbus" is not currently accepting connections', 'FATAL', 'CheckMyDatabase'),
    /lets nobody connect to the database in DATABASE_URL.*ALLOW_CONNECTIONS/,
  ],
  [
    'the same, in another language (the routine tells)',
    pgError('55000', 'la base de données « agentbus » n’accepte pas les connexions', 'FATAL', 'CheckMyDatabase'),
    /ALLOW_CONNECTIONS/,
  ],
  [
    'a connection cut (08006)',
    pgError('08006', 'connection failure'),
    /reachable at the host and port in DATABASE_URL/,
  ],
  ['no such server (08001)', pgError('08001', 'could not connect'), /reachable/],
  [
    'a backend terminated (57P01)',
    pgError('57P01', 'terminating connection due to administrator command'),
    /; PostgreSQL ended the connection .*reconnects on its own/,
  ],
  ['a crash (57P02)', pgError('57P02', 'terminating connection because of crash of another server process'), /crash/],
  ['starting up (57P03)', pgError('57P03', 'the database system is starting up'), /starting up/],
  ['too many clients (53300)', pgError('53300', 'sorry, too many clients already'), /max_connections.*POOL_SIZE/],
  ['a full disk (53100)', pgError('53100', 'could not extend file', 'ERROR'), /out of disk space/],
  ['a standby (25006)', pgError('25006', 'cannot execute INSERT in a read-only transaction', 'ERROR'), /primary/],
  [
    'a wrong password (28P01)',
    pgError('28P01', 'password authentication failed for user "agentbus"'),
    /refuses the user or password in DATABASE_URL/,
  ],
  ['no pg_hba entry (28000)', pgError('28000', 'no pg_hba.conf entry for host'), /pg_hba\.conf/],
  [
    'no such database (3D000)',
    pgError('3D000', 'database "agentbus" does not exist'),
    /database named in DATABASE_URL/,
  ],
  ['a dropped database (57P04)', pgError('57P04', 'terminating connection because the database was dropped'), /exist/],
  ['no privileges (42501)', pgError('42501', 'permission denied for table turns', 'ERROR'), /grant/],
  [
    'a refused socket',
    Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:5432'), { code: 'ECONNREFUSED' }),
    /reachable/,
  ],
  ['a connection lost', new Error('Connection terminated unexpectedly'), /reachable/],
];

t.test('PostgreSQL failures are memory_unavailable, naming DATABASE_URL and what to do', async (t) => {
  for (const [what, err, advice] of cases) {
    t.equal(memoryUnwritable(err), true, `${what}: requests are refused until the probe writes`);
    t.match(memoryProblemOf(err), advice, `${what}: /ready says what to do`);
    t.match(
      memoryFailure(err, AT),
      {
        code: 'memory_unavailable',
        status: 503,
        retryable: true,
        message: new RegExp(
          `^The worker cannot write its memory database in DATABASE_URL \\(postgres://agentbus:\\*\\*\\*@db`,
        ),
      },
      what,
    );
    t.match((memoryFailure(err, AT) as Error).message, advice, `${what}: the client is told too`);
  }
});

t.test('errors that are not the database being unavailable pass as they are', async (t) => {
  // 55000 raised by a statement (not at connection) is not a closed database.
  const other55000 = pgError('55000', 'cannot PREPARE a transaction that has exported snapshots', 'ERROR', 'PrepareTx');
  t.equal(memoryFailure(other55000, AT), other55000);
  t.equal(memoryUnwritable(other55000), false);
  const bug = pgError('42703', 'column "nope" does not exist', 'ERROR');
  t.equal(memoryFailure(bug, AT), bug);
  t.equal(memoryProblemOf(bug), 'column "nope" does not exist', 'no advice guessed');
});

t.test('the advice continues the line: its first word lowercased, a name kept as written', async (t) => {
  const full = Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
  t.match(memoryProblemOf(full), /^database or disk is full; free disk space/);
  t.match(memoryProblemOf(pgError('57P01', 'terminating')), /^terminating; PostgreSQL ended/);
});

// A memory database whose every query fails (its driver destroyed): a query refused at once
// never gets to it.
const dir = mkdtempSync(join(tmpdir(), 'agentbus-memerr-'));
const closed = openMemoryDatabase(memoryDatabasePath(dir));
await closed.destroy();
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const unwritable = { problem: memoryProblemOf(cases[0]![1]) };

t.test('while the probe cannot write, memory queries are refused at once with memory_unavailable', async (t) => {
  let sent: Uint8Array | undefined;
  const respond = (data: Uint8Array) => ((sent = data), true);
  const deps = { db: closed, log: recordingLogger().log, memoryAt: AT, memoryHealth: unwritable };
  const last = { v: PROTOCOL_VERSION, request_id: 'memq-1', tenant: 'key_a', session: 'conv_a', limit: 5 };
  t.same(await handleMemoryQuery(deps, { data: encodeJson(last), reply: '_INBOX.x', respond }), {
    ok: false,
    code: 'memory_unavailable',
  });
  t.match(decodeMemoryLastReply(sent!), {
    type: 'error',
    request_id: 'memq-1',
    error: { code: 'memory_unavailable', status: 503, retryable: true, message: /DATABASE_URL.*ALLOW_CONNECTIONS/ },
  });
  const response = { v: PROTOCOL_VERSION, request_id: 'memq-2', tenant: 'key_a', response_id: 'resp_a', op: 'get' };
  t.same(await handleMemoryResponseQuery(deps, { data: encodeJson(response), reply: '_INBOX.x', respond }), {
    ok: false,
    code: 'memory_unavailable',
  });
  t.match(decodeMemoryResponseReply(sent!), { type: 'error', error: { code: 'memory_unavailable', status: 503 } });
});
