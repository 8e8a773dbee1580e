import { readdirSync, readFileSync } from 'node:fs';

// What other processes are, read from Linux's /proc: enough to tell a nats-server (or an
// `npm start`) of ours from an unrelated process that got the same pid. Where /proc is missing
// every answer is "unknown" (undefined, empty), so callers never signal what they cannot check.

/** The argument vector of `pid`; undefined when it is gone, a zombie, or cannot be read. */
export function commandLineOf(pid: number): string[] | undefined {
  if (!isRunning(pid)) return undefined;
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (argv.at(-1) === '') argv.pop();
    return argv.length > 0 ? argv : undefined;
  } catch {
    return undefined;
  }
}

/** The parent pid of `pid`, or undefined. */
export function parentOf(pid: number): number | undefined {
  const fields = statFields(pid);
  return fields ? Number(fields[1]) : undefined;
}

/** True while `pid` runs: neither gone nor a zombie waiting to be reaped. */
export function isRunning(pid: number): boolean {
  const fields = statFields(pid);
  if (fields) return (fields[0] !== 'Z' && fields[0] !== 'X') || otherThreadsLive(pid);
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, it is just not ours.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A thread-group leader shows as a zombie once its own thread exited, while the process's other
 * threads (a Go nats-server's) are still exiting and hold its files, a listening port among them.
 */
function otherThreadsLive(pid: number): boolean {
  try {
    return readdirSync(`/proc/${pid}/task`).length > 1;
  } catch {
    return false;
  }
}

/** Every pid in /proc whose command line `matches` (none where /proc is missing). */
export function findProcesses(matches: (argv: string[]) => boolean): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return [];
  }
  return entries.map(Number).filter((pid) => {
    const argv = commandLineOf(pid);
    return argv !== undefined && matches(argv);
  });
}

// Linux's USER_HZ: /proc counts CPU time in these ticks, 100 per second on every Linux ABI Node runs on.
const TICKS_PER_SECOND = 100;

/**
 * CPU seconds (user + system) `pid` has used, from /proc/<pid>/stat; with `reapedChildren`, plus
 * those of its children that have exited and been waited for. NaN when it cannot be read.
 */
export function cpuSecondsOf(pid: number, options: { reapedChildren?: boolean } = {}): number {
  const fields = statFields(pid);
  if (!fields) return NaN;
  // Fields 14-17 of stat(5): utime, stime, cutime, cstime; `fields` starts at field 3.
  const [utime, stime, cutime, cstime] = fields.slice(11, 15).map(Number) as [number, number, number, number];
  return (utime + stime + (options.reapedChildren ? cutime + cstime : 0)) / TICKS_PER_SECOND;
}

/** The read and write system calls `pid` made so far (`syscr`, `syscw` of /proc/<pid>/io); NaN where unreadable. */
export function ioCallsOf(pid: number): { reads: number; writes: number } {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/io`, 'utf8');
  } catch {
    return { reads: NaN, writes: NaN };
  }
  const field = (name: string) => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { reads: field('syscr'), writes: field('syscw') };
}

/**
 * How often `pid` went to sleep so far: the voluntary context switches of all its threads
 * (`/proc/<pid>/task/<tid>/status`). An event loop that waits for its next message is one; NaN
 * where unreadable.
 */
export function sleepsOf(pid: number): number {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return NaN;
  }
  let sleeps = 0;
  for (const tid of tids) {
    try {
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      sleeps += Number(/^voluntary_ctxt_switches:\s+(\d+)$/m.exec(status)?.[1] ?? 0);
    } catch {
      // A thread that ended since the listing: its sleeps are gone with it.
    }
  }
  return sleeps;
}

/** The pids whose parent is `pid` (none where /proc is missing). */
export function childrenOf(pid: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return [];
  }
  return entries.map(Number).filter((child) => parentOf(child) === pid);
}

/** Polls until `pid` stopped running; false when it still runs after `timeoutMs`. */
export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  for (const start = Date.now(); Date.now() - start < timeoutMs;) {
    if (!isRunning(pid)) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return !isRunning(pid);
}

/**
 * `/proc/<pid>/stat` from the state on: [state, ppid, …]. The command name before it is in
 * parentheses and may itself hold spaces or parentheses, so it is cut at the last ")".
 */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat
      .slice(stat.lastIndexOf(')') + 2)
      .trim()
      .split(' ');
  } catch {
    return undefined;
  }
}
