import t from 'tap';
import { timeOrderedId } from '../../common/time-ordered-id.js';

// Request and conversation ids are keys of the memory's indexes: made later, they must sort later
// (bytewise, as SQLite and PostgreSQL's "C" collation compare; and case-blind, as a language
// collation does), and still never repeat.

t.test('25 characters: 9 of time in base 36, 16 of base64url randomness', async (t) => {
  const id = timeOrderedId(Date.UTC(2026, 11, 4));
  t.match(id, /^[0-9a-z]{9}[A-Za-z0-9_-]{16}$/);
});

t.test('ids sort as their times, across every digit of the time part', async (t) => {
  const times = [0, 1, 35, 36, 1295, 1296, Date.UTC(2026, 0, 1), Date.UTC(2026, 11, 4), Date.UTC(2400, 0, 1)];
  const times9 = times.map((ms) => timeOrderedId(ms).slice(0, 9));
  t.same(
    [...times9].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))),
    times9,
    'bytewise',
  );
  t.same(
    [...times9].sort((a, b) => a.localeCompare(b, 'en-US')),
    times9,
    'under a language collation',
  );
});

t.test('the same millisecond gives different ids', async (t) => {
  const now = Date.UTC(2026, 11, 4);
  const ids = new Set(Array.from({ length: 1000 }, () => timeOrderedId(now)));
  t.equal(ids.size, 1000);
  t.equal(new Set([...ids].map((id) => id.slice(0, 9))).size, 1);
});
