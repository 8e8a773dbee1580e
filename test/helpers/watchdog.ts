import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Processes a test started, killed by a detached shell if the test process itself dies (tap's
 * timeout, a SIGKILL) before its teardown ran: a fault test leaves stopped (SIGSTOP) and
 * detached processes (a stopped nats-server does not act on its parent-death signal) that would
 * otherwise outlive it.
 * Only the pids tracked here are touched, and only those of the test's own children.
 */
export interface Watchdog {
  track(pid: number | undefined): void;
  untrack(pid: number | undefined): void;
  /** Stops watching (the test cleaned up itself). */
  dispose(): void;
}

export function startWatchdog(): Watchdog {
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-watchdog-'));
  const file = join(dir, 'pids');
  const pids = new Set<number>();
  const save = () => writeFileSync(file, [...pids].join('\n') + '\n');
  save();
  // Polls the test's pid; once it is gone, wakes and kills every tracked pid, then removes the folder.
  const script =
    `while kill -0 ${process.pid} 2>/dev/null && [ -f "$0" ]; do sleep 0.5; done; ` +
    `[ -f "$0" ] && for p in $(cat "$0"); do kill -CONT "$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null; done; ` +
    `rm -rf "$1"`;
  const child = spawn('sh', ['-c', script, file, dir], { detached: true, stdio: 'ignore' });
  child.unref();
  return {
    track(pid) {
      if (pid === undefined) return;
      pids.add(pid);
      save();
    },
    untrack(pid) {
      if (pid === undefined || !pids.delete(pid)) return;
      save();
    },
    dispose() {
      // The shell sees the file gone and exits without killing anything.
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
