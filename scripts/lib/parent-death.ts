import { spawnSync } from 'node:child_process';
import { isExecutable } from './executable.js';

// Processes that are not ours to change (nats-server, Portkey) cannot watch their parent the way
// gateway and worker watch their IPC channel. Linux can do it for them: a parent-death signal,
// which the kernel sends when the process that started them dies, even by SIGKILL. util-linux's
// setpriv sets it and then execs the command, so the pid stays the command's own.

const SETPRIV = ['/usr/bin/setpriv', '/bin/setpriv'];

let found: string | null | undefined;

/** setpriv, when it is there and knows --pdeathsig (util-linux 2.33 and later); else null. */
function setpriv(): string | null {
  if (found !== undefined) return found;
  const path = process.platform === 'linux' ? SETPRIV.find(isExecutable) : undefined;
  const help = path ? spawnSync(path, ['--help'], { encoding: 'utf8' }).stdout : '';
  found = path && help?.includes('--pdeathsig') ? path : null;
  return found;
}

/**
 * A command prefix under which the command gets `signal` once this process is gone, however it
 * ended; empty where setpriv is missing (then only this process's own stop ends the command).
 * The signal follows the thread that spawns: spawn from the main thread, as child_process does.
 */
export function diesWithThisProcess(signal: 'TERM' | 'KILL' = 'TERM'): readonly string[] {
  const path = setpriv();
  return path ? [path, `--pdeathsig=${signal}`] : [];
}

/** `command args` under {@link diesWithThisProcess}, as spawn() takes them. */
export function commandDyingWithThisProcess(command: string, args: readonly string[]): [string, string[]] {
  const [first = command, ...rest] = [...diesWithThisProcess(), command];
  return [first, [...rest, ...args]];
}
