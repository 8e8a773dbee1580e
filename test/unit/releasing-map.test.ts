import t from 'tap';
import { ReleasingMap, ReleasingSet } from '../../common/releasing-map.js';

t.test('it keeps, replaces and deletes entries as a Map does', async (t) => {
  const map = new ReleasingMap<string, { n: number }>();
  map.set('a', { n: 1 }).set('b', { n: 2 });
  t.equal(map.size, 2);
  t.same(map.get('a'), { n: 1 });
  map.set('a', { n: 3 });
  t.same(map.get('a'), { n: 3 }, 'replaced in place');
  t.ok(map.delete('a'));
  t.notOk(map.delete('a'), 'a second delete finds nothing');
  t.notOk(map.has('a'));
  t.equal(map.get('a'), undefined);
  t.same([...map.values()], [{ n: 2 }]);
  map.clear();
  t.equal(map.size, 0);
});

t.test('a walk skips entries deleted before it reaches them and does not visit new ones', async (t) => {
  const map = new ReleasingMap<number, () => void>();
  const called: number[] = [];
  map.set(1, () => {
    called.push(1);
    map.delete(2);
    map.set(4, () => called.push(4));
  });
  map.set(2, () => called.push(2));
  map.set(3, () => called.push(3));
  for (const listener of map.values()) listener();
  t.same(called, [1, 3]);
  t.equal(map.size, 3, 'entries 1, 3 and the new 4');
});

t.test('a set member is removed by the function its add returned; the same value added twice is two', async (t) => {
  const set = new ReleasingSet<() => string>();
  const listener = () => 'a';
  const first = set.add(listener);
  set.add(listener);
  const other = set.add(() => 'b');
  t.equal(set.size, 3);
  first();
  first();
  t.equal(set.size, 2, 'a second removal removes nothing more');
  t.same(
    [...set.values()].map((f) => f()),
    ['a', 'b'],
  );
  other();
  t.same(
    [...set.values()].map((f) => f()),
    ['a'],
  );
});
