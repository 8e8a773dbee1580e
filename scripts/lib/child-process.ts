import { fork, type ChildProcess } from 'node:child_process';
import { PACKAGE_ROOT } from '../../common/package-root.js';
import { nodeEntry } from './entry-point.js';

/** The repository root: entry points are given relative to it. */
export const ROOT = PACKAGE_ROOT;

/** The IPC message a gateway or worker sends once it serves (common/process.ts). */
export interface ReadyMessage {
  type: 'ready';
  [key: string]: unknown;
}

export interface StartedChild {
  child: ChildProcess;
  ready: ReadyMessage;
  /** Everything the child printed, when its output is captured. */
  output(): string;
}

export interface StartChildOptions {
  /**
   * `inherit` shows the child's logs in this terminal; `pipe` captures them (tests); a file
   * descriptor writes them to that file (benchmarks: long runs, nothing kept in memory).
   */
  output?: 'inherit' | 'pipe' | number;
  timeoutMs?: number;
  /** Node options before the entry point (e.g. `--cpu-prof`). */
  nodeArgs?: string[];
  /** Aborts the start: the child gets SIGTERM, and the promise rejects once it exited. */
  signal?: AbortSignal;
  /** A command that runs node, e.g. `ip netns exec <ns>` (a test's host of its own). */
  launcher?: readonly string[];
  /** Runs dist/ (true) or the source under tsx (false); by default as this process runs. */
  compiled?: boolean;
}

/**
 * Starts an entry point of the project (`workers/main.ts`) as a child process, compiled from
 * dist/ when the caller runs compiled, else the source under tsx (see entry-point.ts), in its own process group
 * so a terminal Ctrl-C reaches only the supervisor, which then stops children in order. Resolves
 * with the child's IPC "ready" message; rejects (and kills it) if it exits or hangs first.
 */
export function startChild(
  entry: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  options: StartChildOptions = {},
): Promise<StartedChild> {
  const capture = options.output === 'pipe';
  const run = nodeEntry(entry, options.compiled);
  const execArgv = [...run.execArgv, ...(options.nodeArgs ?? [])];
  const child = fork(run.file, args, {
    cwd: ROOT,
    env,
    // A launcher execs node in turn: the IPC channel (an inherited fd) survives it.
    ...(options.launcher?.length
      ? { execPath: options.launcher[0], execArgv: [...options.launcher.slice(1), process.execPath, ...execArgv] }
      : { execArgv }),
    detached: true,
    stdio: capture
      ? ['ignore', 'pipe', 'pipe', 'ipc']
      : typeof options.output === 'number'
        ? ['ignore', options.output, options.output, 'ipc']
        : ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let output = '';
  child.stdout?.on('data', (d) => {
    output += d;
  });
  child.stderr?.on('data', (d) => {
    output += d;
  });
  const timeoutMs = options.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(
        new Error(
          `${entry} exited with ${code} before it was ready${capture ? `:\n${output}` : ' (see its output above)'}`,
        ),
      );
    };
    const timer = setTimeout(() => {
      child.off('exit', onExit).kill('SIGKILL');
      reject(new Error(`${entry} was not ready within ${timeoutMs} ms${capture ? `:\n${output}` : ''}`));
    }, timeoutMs);
    child.once('exit', onExit);
    // Not ready yet, it has no SIGTERM handler of its own: it ends at once, and onExit rejects.
    const onAbort = () => child.kill('SIGTERM');
    if (options.signal?.aborted) onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    child.once('exit', () => options.signal?.removeEventListener('abort', onAbort));
    child.on('message', (message: ReadyMessage) => {
      if (message?.type !== 'ready') return;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      child.off('exit', onExit);
      resolve({ child, ready: message, output: () => output });
    });
  });
}

/** Sends SIGTERM and waits for the exit (SIGKILL after `graceMs`); resolves with the exit code. */
export async function stopChild(child: ChildProcess, graceMs = 15_000): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  const code = await exited;
  clearTimeout(timer);
  return code;
}
