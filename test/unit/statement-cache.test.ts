import t from 'tap';
import SQLite from 'better-sqlite3';
import { cachingStatements } from '../../workers/memory/statement-cache.js';

t.test('a statement is prepared once per SQL text and reused with new parameters', async (t) => {
  const raw = new SQLite(':memory:');
  const db = cachingStatements(raw, 2);
  t.teardown(() => db.close());
  db.prepare('create table t (x integer)').run([]);
  const insert = db.prepare('insert into t (x) values (?)');
  insert.run([1]);
  t.equal(db.prepare('insert into t (x) values (?)'), insert, 'the same statement');
  db.prepare('insert into t (x) values (?)').run([2]);
  t.same(db.prepare('select x from t order by x').all([]), [{ x: 1 }, { x: 2 }]);
});

t.test('a busy statement (being iterated) is not handed out again; the oldest falls out past capacity', async (t) => {
  const raw = new SQLite(':memory:');
  const db = cachingStatements(raw, 2);
  t.teardown(() => db.close());
  db.prepare('create table t (x integer)').run([]);
  for (const x of [1, 2, 3]) db.prepare('insert into t (x) values (?)').run([x]);
  const select = db.prepare('select x from t order by x');
  const rows: unknown[] = [];
  for (const row of select.iterate([])) {
    const again = db.prepare('select x from t order by x');
    t.not(again, select, 'a fresh statement while the first is busy');
    rows.push({ row, all: again.all([]).length });
  }
  t.equal(rows.length, 3);
  t.equal(db.prepare('select x from t order by x'), select, 'reused once it is free again');
  db.prepare('select 1');
  db.prepare('select 2');
  t.not(db.prepare('select x from t order by x'), select, 'evicted: least recently used');
});
