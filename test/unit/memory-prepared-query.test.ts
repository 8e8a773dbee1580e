import t from 'tap';
import SQLite, { type Statement } from 'better-sqlite3';
import { Kysely, sql, SqliteDialect, type SqliteDatabase } from 'kysely';
import { prepareQuery } from '../../workers/memory/prepared-query.js';
import { cachingStatements } from '../../workers/memory/statement-cache.js';

// The helper on its own, on a small table: a query compiled once, run through Kysely (its
// connection, transactions and driver) with named parameters bound where the SQL wants them.
interface Db {
  pairs: { left: string; right: string; weight: number };
}

/** A Kysely on an in-memory SQLite, through the statement cache; `prepared` lists what its driver asked for. */
function openDb() {
  const cache = cachingStatements(new SQLite(':memory:'));
  const prepared: { sql: string; statement: Statement }[] = [];
  // Our own seam, seen from the test: every statement Kysely's driver asks for, and what it got.
  const database: SqliteDatabase = {
    prepare(sql) {
      const statement = cache.prepare(sql);
      prepared.push({ sql, statement });
      return statement;
    },
    close: () => cache.close(),
  };
  const db = new Kysely<Db>({ dialect: new SqliteDialect({ database }) });
  return { db, prepared };
}

async function withPairs(t: { teardown(fn: () => Promise<void>): void }) {
  const opened = openDb();
  t.teardown(() => opened.db.destroy());
  await opened.db.schema
    .createTable('pairs')
    .addColumn('left', 'text')
    .addColumn('right', 'text')
    .addColumn('weight', 'integer')
    .execute();
  return opened;
}

const insertPair = prepareQuery((db: Kysely<Db>, p: { a: string; b: string }) =>
  // The SQL takes b before a, and a constant between them.
  db.insertInto('pairs').values({ right: p.b, weight: 7, left: p.a }),
);
const pairsMatching = prepareQuery((db: Kysely<Db>, p: { left: string; right: string }) =>
  db.selectFrom('pairs').selectAll().where('right', '=', p.right).where('left', '=', p.left),
);

t.test('each named parameter is bound where the SQL uses it, constants stay as written', async (t) => {
  const { db } = await withPairs(t);
  await insertPair.execute(db, { a: 'A', b: 'B' });
  t.same(await db.selectFrom('pairs').selectAll().execute(), [{ left: 'A', right: 'B', weight: 7 }]);
  t.same((await pairsMatching.execute(db, { left: 'A', right: 'B' })).rows, [{ left: 'A', right: 'B', weight: 7 }]);
  t.same((await pairsMatching.execute(db, { left: 'B', right: 'A' })).rows, [], 'a swapped pair finds nothing');
});

t.test('the builder runs once; every execution reuses its SQL and the prepared statement', async (t) => {
  const { db, prepared } = await withPairs(t);
  let builds = 0;
  const countRight = prepareQuery((db: Kysely<Db>, p: { right: string }) => {
    builds++;
    return db
      .selectFrom('pairs')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('right', '=', p.right);
  });
  for (const [a, b] of [
    ['1', 'x'],
    ['2', 'x'],
    ['3', 'y'],
  ] as const)
    await insertPair.execute(db, { a, b });
  t.same((await countRight.execute(db, { right: 'x' })).rows, [{ n: 2 }]);
  t.same((await countRight.execute(db, { right: 'y' })).rows, [{ n: 1 }]);
  t.equal(builds, 1, 'built and compiled once');
  const [first, second, ...more] = prepared.filter(({ sql }) => sql.startsWith('select count(*)'));
  t.same(more, [], 'two executions');
  t.equal(second?.sql, first?.sql, 'the same SQL text each time');
  t.equal(second?.statement, first?.statement, 'one better-sqlite3 statement, prepared once');
});

t.test("on a transaction it runs on the transaction's connection, and rolls back with it", async (t) => {
  const { db } = await withPairs(t);
  await t.rejects(
    db.transaction().execute(async (trx) => {
      await insertPair.execute(trx, { a: 'in', b: 'tx' });
      t.equal((await pairsMatching.execute(trx, { left: 'in', right: 'tx' })).rows.length, 1, 'seen inside');
      throw new Error('roll back');
    }),
    { message: 'roll back' },
  );
  t.same((await pairsMatching.execute(db, { left: 'in', right: 'tx' })).rows, [], 'gone after the rollback');
});

t.test('a parameter the builder changes is refused at the first execution', async (t) => {
  const { db } = await withPairs(t);
  const derived = prepareQuery((db: Kysely<Db>, p: { root: string }) =>
    db.selectFrom('pairs').selectAll().where('left', '>=', `${p.root}.`),
  );
  await t.rejects(derived.execute(db, { root: 'r' }), { message: /changed by the builder/ });
  const inlined = prepareQuery((db: Kysely<Db>, p: { left: string }) =>
    db
      .selectFrom('pairs')
      .selectAll()
      .where('left', '=', sql.raw<string>(`'${p.left}'`)),
  );
  await t.rejects(inlined.execute(db, { left: 'l' }), { message: /written into the SQL text/ });
});
