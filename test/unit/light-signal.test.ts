import t from 'tap';
import { LightSignal } from '../../common/light-signal.js';

// LightSignal stands in for an AbortSignal in the call pipeline: it must behave as one does.

t.test('listeners run once, in order, with the reason set', async (t) => {
  const signal = new LightSignal();
  const seen: string[] = [];
  signal.addEventListener('abort', () => seen.push(`a:${String(signal.reason)}`));
  signal.addEventListener('abort', () => seen.push('b'));
  t.equal(signal.aborted, false);
  signal.abort('gone');
  signal.abort('again');
  t.same(seen, ['a:gone', 'b']);
  t.equal(signal.aborted, true);
  t.equal(signal.reason, 'gone');
});

t.test('no reason: an AbortError, as AbortController gives', async (t) => {
  const signal = new LightSignal();
  signal.abort();
  t.equal((signal.reason as DOMException).name, 'AbortError');
});

t.test('a removed listener, or one removed by an earlier listener, does not run', async (t) => {
  const signal = new LightSignal();
  const seen: string[] = [];
  const second = () => seen.push('second');
  const third = () => seen.push('third');
  signal.addEventListener('abort', () => {
    seen.push('first');
    signal.removeEventListener('abort', third);
  });
  signal.addEventListener('abort', second);
  signal.addEventListener('abort', third);
  signal.removeEventListener('abort', second);
  signal.abort('x');
  t.same(seen, ['first']);
});

t.test('the same listener added twice runs once; one added after the abort never runs', async (t) => {
  const signal = new LightSignal();
  let runs = 0;
  const listener = () => runs++;
  signal.addEventListener('abort', listener);
  signal.addEventListener('abort', listener);
  signal.abort('x');
  signal.addEventListener('abort', listener);
  t.equal(runs, 1);
});

t.test('a throwing listener reaches uncaughtException and the others still run', async (t) => {
  const signal = new LightSignal();
  const seen: string[] = [];
  const caught = new Promise<unknown>((resolve) => {
    const handler = (err: unknown) => {
      process.off('uncaughtException', handler);
      resolve(err);
    };
    process.on('uncaughtException', handler);
  });
  signal.addEventListener('abort', () => {
    throw new Error('listener bug');
  });
  signal.addEventListener('abort', () => seen.push('next'));
  signal.abort('x');
  t.same(seen, ['next']);
  t.equal(((await caught) as Error).message, 'listener bug');
});
