import { spawn } from 'node:child_process';
import t from 'tap';
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
