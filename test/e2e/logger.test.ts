import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { LOG_FLUSH_MS } from '../../common/logger.js';
import { ROOT } from '../../scripts/lib/child-process.js';

t.test(
  'a signal before the shutdown handler is installed still writes the buffered log lines, and ends the process by that signal',
  async (t) => {
    // Without tap's NODE_OPTIONS: its preloads listen for SIGTERM themselves (signal-exit), and
    // the process must meet the signal as a gateway would, with no handler at all.
    const { NODE_OPTIONS: _tapPreloads, ...env } = process.env;
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/log-until-signal.ts'], {
      cwd: ROOT,
      env: { ...env, LOG_FORMAT: 'json' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child.once('exit', (c, s) => resolve([c, s])),
    );
    clearTimeout(timer);
    t.equal(signal, 'SIGTERM', 'ended by the signal, as without the handler');
    t.equal(code, null);
    const lines = out
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { msg: string; i: number });
    t.equal(lines.length, 20, 'every buffered line was written');
    t.same(
      lines.map((line) => line.i),
      Array.from({ length: 20 }, (_, i) => i),
      'in order',
    );
  },
);

/** Write system calls of every thread of `pid` so far (`syscw` of /proc/PID/io). */
const writesOf = (pid: number) => Number(/^syscw: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1]);

t.test('an idle process writes nothing: the timed flush skips an empty buffer', async (t) => {
  const { NODE_OPTIONS: _tapPreloads, ...env } = process.env;
  const run = (...args: string[]) =>
    spawn(process.execPath, ['--import', 'tsx', 'test/helpers/log-then-idle.ts', ...args], {
      cwd: ROOT,
      env: { ...env, LOG_FORMAT: 'json' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
  const warming = run('warm');
  t.teardown(() => warming.kill('SIGKILL'));
  await new Promise((resolve) => warming.once('exit', resolve));
  const child = run();
  t.teardown(() => child.kill('SIGKILL'));
  // Its line comes with the first timed flush; the next one may write once more (nothing: a write
  // may leave lines behind). From then on it only waits. Counting starts half a period after that,
  // once the thread-pool thread that wrote has also woken the event loop with a write of its own.
  await new Promise((resolve) => child.stdout.once('data', resolve));
  await new Promise((resolve) => setTimeout(resolve, 1.5 * LOG_FLUSH_MS));
  const before = writesOf(child.pid!);
  await new Promise((resolve) => setTimeout(resolve, 5 * LOG_FLUSH_MS));
  t.equal(writesOf(child.pid!), before, `no write in ${5 * LOG_FLUSH_MS} ms (five timed flushes)`);
});

t.test('a line logged behind a write in progress is written by a later timed flush', async (t) => {
  const { NODE_OPTIONS: _tapPreloads, ...env } = process.env;
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/log-during-write.ts'], {
    cwd: ROOT,
    env: { ...env, LOG_FORMAT: 'json' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => child.kill('SIGKILL'));
  const lines: string[] = [];
  let seen: (count: number) => void = () => undefined;
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    const end = out.lastIndexOf('\n') + 1;
    lines.push(...out.slice(0, end).split('\n').filter(Boolean));
    out = out.slice(end);
    seen(lines.length);
  });
  const linesBy = (count: number, ms?: number) =>
    new Promise<void>((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(resolve, ms);
      seen = (n) => {
        if (n < count) return;
        clearTimeout(timer);
        resolve();
      };
      seen(lines.length);
    });
  await linesBy(1, 20_000); // the warning, written at once (tsx may compile first)
  // The info line waited behind the warning's write; a timed flush after that write writes it.
  await linesBy(2, 10 * LOG_FLUSH_MS);
  t.same(
    lines.map((line) => (JSON.parse(line) as { msg: string }).msg),
    ['written at once', 'written by a timed flush'],
  );
});
