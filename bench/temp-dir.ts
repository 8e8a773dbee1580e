import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRunning } from '../common/process-table.js';

// A bench tool killed outright (SIGKILL) takes its processes along (stop-on-signal.ts) but cannot
// remove its temp folder: JetStream store, database and logs stay in /tmp. Each folder names the
// process that made it, so the next run removes those whose process is gone.

export const BENCH_DIR_PREFIX = 'agentbus-bench-';
/** The file that marks a folder as a bench run's, holding the pid of the process that made it. */
export const OWNER_FILE = 'bench-owner.pid';

/**
 * A new temp folder `agentbus-bench-<name>…` for one bench run under `root`, marked as this
 * process's; stale runs' folders are removed first.
 */
export function benchTempDir(name = '', root: string = tmpdir()): string {
  removeStaleBenchDirs(root);
  const dir = mkdtempSync(join(root, `${BENCH_DIR_PREFIX}${name}`));
  writeFileSync(join(dir, OWNER_FILE), `${process.pid}\n`);
  return dir;
}

/**
 * Removes the folders under `root` that a bench run made (the prefix and an owner file) and whose
 * process is gone; returns them. A folder without the file (another tool's, a test's, one being
 * made) or whose process runs is left alone.
 */
export function removeStaleBenchDirs(root: string = tmpdir()): string[] {
  const removed: string[] = [];
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    if (!entry.isDirectory() || !entry.name.startsWith(BENCH_DIR_PREFIX)) continue;
    const dir = join(root, entry.name);
    const pid = ownerOf(dir);
    if (pid === undefined || isRunning(pid)) continue;
    try {
      rmSync(dir, { recursive: true, force: true });
      removed.push(dir);
    } catch {
      // Another user's, or going already: not ours to insist on.
    }
  }
  return removed;
}

function ownerOf(dir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dir, OWNER_FILE), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
