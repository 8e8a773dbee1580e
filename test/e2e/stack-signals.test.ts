import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ROOT } from '../../scripts/lib/child-process.js';
import { freePort } from '../../scripts/lib/ports.js';
import { parentOf } from '../../common/process-table.js';
import { runStart, waitUntilGone } from '../helpers/npm-start.js';

// How the real `npm start` (npm 11, its `sh -c`, then start.ts) stops on the signals a user or
// a service manager sends: nothing it started may be left running.

async function stackEnv(dir: string): Promise<Record<string, string>> {
  const conf = join(dir, 'nats.conf');
  const port = await freePort('127.0.0.1');
  writeFileSync(conf, readFileSync(join(ROOT, 'nats.conf'), 'utf8').replace(/^port: \d+/m, `port: ${port}`));
  // No model is needed to start and stop: the worker just reports it unreachable.
  return {
    NATS_CONF: conf,
    PORT: '0',
    DATA_DIR: join(dir, 'data'),
    LOG_DIR: join(dir, 'logs'),
    OLLAMA_URL: 'http://127.0.0.1:9',
  };
}

t.test('SIGTERM to the npm process stops the whole stack', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-signals-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const stack = runStart(await stackEnv(dir), { via: 'npm', teardown: t });
  await stack.waitFor(/press Ctrl-C to stop/);
  const pids = stack.pids();
  // `exec` in the start script: no shell in between to swallow the SIGTERM npm forwards.
  t.equal(parentOf(pids.supervisor), stack.child.pid, 'npm runs start.ts as its own child');
  stack.child.kill('SIGTERM');
  t.equal(await stack.exited, 0, 'npm waits for the stack to stop, and exits 0');
  t.same(await waitUntilGone(Object.values(pids)), [], 'supervisor, nats-server, worker and gateway are gone');
  t.match(stack.output(), /stopping \(SIGTERM\)…[^]*stopped/);
  t.match(readFileSync(join(dir, 'data', 'nats-server.json'), 'utf8'), /"port"/);
  t.notMatch(readFileSync(join(dir, 'data', 'nats-server.json'), 'utf8'), /"pid"/, 'no pid is left recorded');
});

t.test('SIGHUP to the terminal job (the terminal closed) stops the whole stack', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-signals-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // A terminal's foreground job: npm and start.ts share one process group, which gets SIGHUP.
  const stack = runStart(await stackEnv(dir), { via: 'npm', ownGroup: true, teardown: t });
  await stack.waitFor(/press Ctrl-C to stop/);
  const pids = stack.pids();
  process.kill(-stack.child.pid!, 'SIGHUP');
  await stack.exited;
  t.same(await waitUntilGone(Object.values(pids)), [], 'supervisor, nats-server, worker and gateway are gone');
  t.match(stack.output(), /stopping \(SIGHUP\)…[^]*stopped/);
});

t.test('npm killed outright (SIGKILL): start.ts sees its parent gone and stops the stack', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-signals-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const stack = runStart(await stackEnv(dir), { via: 'npm', teardown: t });
  await stack.waitFor(/press Ctrl-C to stop/);
  const pids = stack.pids();
  stack.child.kill('SIGKILL');
  await stack.exited;
  t.same(await waitUntilGone(Object.values(pids)), [], 'supervisor, nats-server, worker and gateway are gone');
  t.match(stack.output(), new RegExp(`stopping \\(npm \\(pid ${stack.child.pid}\\) is gone\\)…[^]*stopped`));
});
