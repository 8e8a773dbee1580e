import t from 'tap';
import { timeOrderedId } from '../../common/time-ordered-id.js';

// Request and conversation ids are keys of the memory's indexes: made later, they must sort later
// (bytewise, as SQLite and PostgreSQL's "C" collation compare), and still never repeat.

t.test('24 characters: 8 of time, 16 of base64url randomness', async (t) => {
  const id = timeOrderedId(Date.UTC(2026, 11, 4));
  t.match(id, /^[0-9A-Za-z]{8}[A-Za-z0-9_-]{16}$/);
});

t.test('ids sort as their times, across every digit of the time part', async (t) => {
  const times = [0, 1, 61, 62, 3843, 3844, Date.UTC(2026, 0, 1), Date.UTC(2026, 11, 4), Date.UTC(2400, 0, 1)];
  const ids = times.map((ms) => timeOrderedId(ms));
  const bytewise = [...ids].sort((a, b) => (Buffer.from(a) < Buffer.from(b) ? -1 : 1));
  t.same(bytewise, ids);
});

t.test('the same millisecond gives different ids', async (t) => {
  const now = Date.UTC(2026, 11, 4);
  const ids = new Set(Array.from({ length: 1000 }, () => timeOrderedId(now)));
  t.equal(ids.size, 1000);
  t.equal(new Set([...ids].map((id) => id.slice(0, 8))).size, 1);
});
