import Database from 'better-sqlite3';
import { Kysely, SqliteDialect, type KyselyPlugin } from 'kysely';
import t from 'tap';
import { inTransactionOf, memoryDialectOf } from '../../workers/memory/dialect.js';

// Finding a dialect out compiles a query; a transaction of a known database must not need to.

t.test('a transaction of inTransactionOf knows its dialect without compiling', async (t) => {
  let compiled = 0;
  const counting: KyselyPlugin = {
    transformQuery: (args) => {
      compiled++;
      return args.node;
    },
    transformResult: (args) => Promise.resolve(args.result),
  };
  const db = new Kysely<Record<string, never>>({
    dialect: new SqliteDialect({ database: new Database(':memory:') }),
    plugins: [counting],
  });
  t.teardown(() => db.destroy());
  t.equal(memoryDialectOf(db), 'sqlite');
  const afterRoot = compiled;
  t.equal(afterRoot, 1, 'the root database is compiled against once');
  t.equal(memoryDialectOf(db), 'sqlite');
  const inside = await inTransactionOf(db, (trx) => Promise.resolve(memoryDialectOf(trx)));
  t.equal(inside, 'sqlite');
  t.equal(compiled, afterRoot, 'neither the second call nor the transaction compiled');
});
