import t from 'tap';
import { traceparentFor } from '../../gateway/chat/traceparent.js';

const NEW_TRACE = /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/;

t.test('a valid traceparent is kept', async (t) => {
  const valid = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  t.equal(traceparentFor(valid), valid);
  t.equal(traceparentFor('01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00').slice(0, 3), '01-');
});

t.test("a later version's traceparent is read for the fields version 00 defines", async (t) => {
  const fields = '01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  t.equal(traceparentFor(`${fields}-what-version-01-adds`), fields);
  // Version 00 has exactly those fields; anything after them makes it invalid, as does no dash after them.
  t.match(traceparentFor(`00${fields.slice(2)}-more`), NEW_TRACE);
  t.match(traceparentFor(`${fields}x`), NEW_TRACE);
  t.match(traceparentFor(`ff${fields.slice(2)}-more`), NEW_TRACE);
});

t.test('what W3C Trace Context calls invalid starts a new trace', async (t) => {
  for (const invalid of [
    'garbage',
    '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
    '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01',
    'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
  ]) {
    const made = traceparentFor(invalid);
    t.not(made, invalid, invalid);
    t.match(made, NEW_TRACE, invalid);
    t.notMatch(made, /^00-0{32}-/, invalid);
  }
  t.match(traceparentFor(undefined), NEW_TRACE);
});
