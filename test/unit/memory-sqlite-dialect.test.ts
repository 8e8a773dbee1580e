import t from 'tap';
import SQLite from 'better-sqlite3';
import { Kysely, sql, type Driver, type Generated } from 'kysely';
import { QueuedDriver, queuedSqliteDialect } from '../../workers/memory/sqlite-dialect.js';

/** A one-connection driver that counts who holds its connection, and can refuse one acquire. */
function countingDriver() {
  const connection = { executeQuery: async () => ({ rows: [] }), streamQuery: async function* () {} };
  const state = { holders: 0, mostHolders: 0, acquires: 0, failNext: false };
  const driver: Driver = {
    init: async () => undefined,
    acquireConnection: async () => {
      state.acquires++;
      if (state.failNext) {
        state.failNext = false;
        throw new Error('refused');
      }
      state.holders++;
      state.mostHolders = Math.max(state.mostHolders, state.holders);
      return connection;
    },
    releaseConnection: async () => {
      state.holders--;
    },
    beginTransaction: async () => undefined,
    commitTransaction: async () => undefined,
    rollbackTransaction: async () => undefined,
    destroy: async () => undefined,
  };
  return { driver, state };
}

t.test('acquirers get the connection one at a time, in arrival order', async (t) => {
  const { driver, state } = countingDriver();
  const queued = new QueuedDriver(driver);
  const order: number[] = [];
  await Promise.all(
    Array.from({ length: 200 }, async (_, i) => {
      const c = await queued.acquireConnection();
      order.push(i);
      await Promise.resolve();
      await queued.releaseConnection(c);
    }),
  );
  t.same(
    order,
    Array.from({ length: 200 }, (_, i) => i),
  );
  t.equal(state.mostHolders, 1, 'the driver beneath never had two holders');
  t.equal(state.acquires, 200, 'each acquirer asked the driver beneath once: nobody woke in vain');
});

t.test('a long queue gives the event loop a turn now and then instead of draining in one', async (t) => {
  const { driver } = countingDriver();
  const queued = new QueuedDriver(driver);
  let done = 0;
  let doneWhenLoopRan: number | undefined;
  setImmediate(() => (doneWhenLoopRan = done));
  await Promise.all(
    Array.from({ length: 500 }, async () => {
      const c = await queued.acquireConnection();
      await queued.releaseConnection(c);
      done++;
    }),
  );
  t.ok(doneWhenLoopRan !== undefined && doneWhenLoopRan < 500, `the loop ran after ${doneWhenLoopRan} of 500`);
});

t.test('an acquire the driver beneath refuses frees the connection for the next one', async (t) => {
  const { driver, state } = countingDriver();
  const queued = new QueuedDriver(driver);
  const first = await queued.acquireConnection();
  state.failNext = true;
  const refused = queued.acquireConnection();
  const next = queued.acquireConnection();
  await queued.releaseConnection(first);
  await t.rejects(refused, /refused/);
  const c = await next;
  t.equal(state.holders, 1);
  await queued.releaseConnection(c);
  t.equal(state.holders, 0);
});

t.test('on SQLite: concurrent queries and transactions all complete, each transaction whole', async (t) => {
  interface Db {
    t: { id: Generated<number>; v: string };
  }
  const db = new Kysely<Db>({ dialect: queuedSqliteDialect({ database: new SQLite(':memory:') }) });
  t.teardown(() => db.destroy());
  await sql`create table t (id integer primary key, v text)`.execute(db);
  await Promise.all(
    Array.from({ length: 300 }, (_, i) =>
      i % 3
        ? db
            .insertInto('t')
            .values({ v: `single ${i}` })
            .execute()
        : db.transaction().execute(async (tx) => {
            await tx
              .insertInto('t')
              .values({ v: `tx ${i} a` })
              .execute();
            // Another query's statement landing here would break the pair's adjacency below.
            await tx
              .insertInto('t')
              .values({ v: `tx ${i} b` })
              .execute();
          }),
    ),
  );
  const rows = await db.selectFrom('t').select(['id', 'v']).orderBy('id').execute();
  t.equal(rows.length, 400);
  const split = rows.filter((row, k) => row.v.endsWith(' a') && rows[k + 1]?.v !== row.v.replace(/ a$/, ' b'));
  t.same(split, [], 'no statement landed inside a transaction');
});
