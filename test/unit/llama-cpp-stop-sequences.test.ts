import t from 'tap';
import { StopSequences } from '../../workers/providers/llama-cpp/stop-sequences.js';

// The client's stop sequences over streamed text: cut before the first, hold back a possible start.

const run = (stops: string[], chunks: string[]) => {
  const sequences = new StopSequences(stops);
  const out = chunks.map((chunk) => sequences.push(chunk));
  return { out, stopped: sequences.stopped, rest: sequences.flush() };
};

t.test('text ends before the first stop sequence, which is left out', async (t) => {
  t.same(run(['END'], ['one ', 'two E', 'ND three']), { out: ['one ', 'two ', ''], stopped: true, rest: '' });
  t.same(run(['b', 'a'], ['xxab']), { out: ['xx'], stopped: true, rest: '' }, 'the earliest of several');
  t.same(run(['END'], ['END', 'more']), { out: ['', ''], stopped: true, rest: '' }, 'nothing after a stop');
});

t.test('a possible start is held back, then goes out when it is not one', async (t) => {
  t.same(run(['the'], ['is any', 'th']), { out: ['is any', ''], stopped: false, rest: 'th' }, 'held to the end');
  t.same(run(['the'], ['is th', 'ing']), { out: ['is ', 'thing'], stopped: false, rest: '' });
  t.same(run(['abc', 'bd'], ['xab', 'd']), { out: ['x', 'a'], stopped: true, rest: '' }, 'the longest start held');
});

t.test('an empty stop sequence stops nothing', async (t) => {
  t.same(run([''], ['hello']), { out: ['hello'], stopped: false, rest: '' });
});
