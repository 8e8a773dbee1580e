import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import t from 'tap';
import { BENCH_DIR_PREFIX, OWNER_FILE, removeStaleBenchDirs } from '../../bench/temp-dir.js';
import { ROOT } from '../../scripts/lib/child-process.js';
import { findProcesses } from '../../common/process-table.js';
import { waitFor, waitUntil } from '../helpers/wait.js';

// A bench tool killed outright while its stack starts runs no cleanup of its own: gateway, worker
// and fake upstream see their IPC channel close, nats-server has its parent-death signal
// (scripts/lib/parent-death.ts). Before, its nats-server ran on for hours.

/** Every process that inherited `TMPDIR=<dir>`: all the bench tool started, however deep. */
function startedUnder(dir: string): number[] {
  const mark = `TMPDIR=${dir}`;
  return findProcesses(() => true).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(mark);
    } catch {
      return false;
    }
  });
}

t.test(
  'a bench tool SIGKILLed while its stack starts leaves no process, and a folder the next run removes',
  async (t) => {
    // Its own TMPDIR: the bench's temp folder lands in it, and every process it starts inherits it.
    const dir = mkdtempSync(join(tmpdir(), 'agentbus-bench-killed-'));
    t.teardown(() => {
      for (const pid of startedUnder(dir)) process.kill(pid, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    });
    const tool = spawn(process.execPath, ['--import', 'tsx', 'bench/cpu-per-request.ts', '1', '10', '1'], {
      cwd: ROOT,
      env: { ...process.env, TMPDIR: dir },
      stdio: 'ignore',
    });
    const exited = new Promise((resolve) => tool.once('exit', resolve));
    const natsOf = () =>
      findProcesses((argv) => basename(argv[0] ?? '').startsWith('nats-server') && argv.some((a) => a.startsWith(dir)));
    // Killed as soon as its nats-server runs: the worker and gateway are still starting then.
    await waitFor('the bench tool to start its nats-server', () => natsOf().length > 0, 60_000);
    const nats = natsOf();
    tool.kill('SIGKILL');
    await exited;
    t.ok(await waitUntil(() => natsOf().length === 0, 10_000), `its nats-server ${nats.join(', ')} is gone`);
    t.ok(await waitUntil(() => startedUnder(dir).length === 0, 30_000), 'and every other process it started');
    t.same(startedUnder(dir), []);

    // Its temp folder (JetStream store, logs) stays: nothing of it ran to remove it. It names the
    // killed tool as its owner, so the next bench run removes it (bench/temp-dir.ts).
    const left = readdirSync(dir).filter((name) => name.startsWith(BENCH_DIR_PREFIX));
    t.equal(left.length, 1, 'the killed run left its folder');
    t.equal(readFileSync(join(dir, left[0]!, OWNER_FILE), 'utf8').trim(), String(tool.pid), 'naming the killed tool');
    t.same(removeStaleBenchDirs(dir), [join(dir, left[0]!)], 'which the next run removes');
    t.same(
      readdirSync(dir).filter((name) => name.startsWith(BENCH_DIR_PREFIX)),
      [],
    );
  },
);
