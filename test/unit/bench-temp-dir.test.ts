import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { benchTempDir, OWNER_FILE } from '../../bench/temp-dir.js';

/** The pid of a process that ran and is gone (reaped, so signal 0 answers ESRCH). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
}

function folder(root: string, name: string, owner?: number): string {
  const dir = join(root, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'kept.log'), 'a log line\n');
  if (owner !== undefined) writeFileSync(join(dir, OWNER_FILE), `${owner}\n`);
  return dir;
}

t.test('a new bench folder removes the folders of bench runs whose process is gone, and only those', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'bench-temp-dir-test-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const dead = await deadPid();
  const stale = folder(root, 'agentbus-bench-Kill3d', dead);
  const staleStartup = folder(root, 'agentbus-bench-startup-nats-X1', dead);
  const running = folder(root, 'agentbus-bench-Run123', process.pid);
  // A test's own TMPDIR (bench-killed.test.ts), or a folder whose owner file is not written yet.
  const unmarked = folder(root, 'agentbus-bench-killed-abc');
  const garbled = folder(root, 'agentbus-bench-Garb1e', undefined);
  writeFileSync(join(garbled, OWNER_FILE), 'not a pid');
  // Not the bench's, whatever its file says.
  const foreign = folder(root, 'someone-else-xyz', dead);

  const made = benchTempDir('', root);

  t.notOk(existsSync(stale), 'the killed run’s folder is gone');
  t.notOk(existsSync(staleStartup), 'so is a killed bench:startup’s');
  for (const kept of [running, unmarked, garbled, foreign]) t.ok(existsSync(join(kept, 'kept.log')), `${kept} stays`);
  t.match(made, /agentbus-bench-[^/]+$/);
  t.equal(readFileSync(join(made, OWNER_FILE), 'utf8').trim(), String(process.pid), 'the new folder names its owner');

  // This process runs: the next run leaves the folder just made alone.
  benchTempDir('', root);
  t.ok(existsSync(made));
});
