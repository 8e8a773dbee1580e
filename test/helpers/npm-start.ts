import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../scripts/lib/child-process.js';
import { commandLineOf, isRunning } from '../../common/process-table.js';
import { sleep } from './wait.js';

/** `npm start`'s command line from package.json, without the shell's `exec`. */
const START = (
  JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }
).scripts.start
  .replace(/^exec /, '')
  .split(' ');

/** The pids `npm start` printed (its "pids" line, and each "is back (pid N" since). */
export interface StackPids {
  supervisor: number;
  nats?: number;
  worker: number;
  gateway: number;
}

export interface StartedStack {
  /** `npm` (via "npm") or `node scripts/start.ts` (via "node"). */
  readonly child: ChildProcess;
  /** Resolves with the exit code (null when killed by a signal) once `child` exits. */
  readonly exited: Promise<number | null>;
  output(): string;
  /** The first match of `pattern` in the output from `from` on, waiting at most `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number, from?: number): Promise<RegExpExecArray>;
  /** The pids of the "pids" line; throws before it was printed. */
  pids(): StackPids;
  /** Every pid this stack printed (restarts included) that still runs. */
  running(): number[];
  /** SIGKILL for everything it printed and the child itself: the cleanup of last resort. */
  killAll(): void;
}

export interface RunStartOptions {
  /** "npm": the real `npm start`; "node": its command line run directly (no npm in between). */
  via?: 'npm' | 'node';
  /** In a process group of its own, as a terminal's foreground job is (so the group can get SIGHUP). */
  ownGroup?: boolean;
  /** The test, for the teardown that kills what is left. */
  teardown?: { teardown(fn: () => void): void };
}

/** Every stack a test started, killed when the test process exits however it ends (see below). */
const everyStack = new Set<StartedStack>();
process.once('exit', () => {
  for (const stack of everyStack) stack.killAll();
});

/**
 * Runs `npm start` with `env` over the test's environment (LOG_FORMAT=json), collecting its
 * output. The stack dies with the test process even when tap kills it at its timeout: start.ts
 * watches its parent when run by an npm script (`npm_lifecycle_event`), which the test's own
 * environment says it is (`npm test`, `npx tap`) and is set here when it does not.
 */
export function runStart(env: Record<string, string>, options: RunStartOptions = {}): StartedStack {
  const [command, ...args] = options.via === 'npm' ? ['npm', 'start'] : START;
  const child = spawn(command!, args, {
    cwd: ROOT,
    env: {
      ...process.env,
      npm_lifecycle_event: process.env['npm_lifecycle_event'] ?? 'test',
      LOG_FORMAT: 'json',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.ownGroup ?? false,
  });
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const printedPids = (): number[] => {
    const pids = [...output.matchAll(/pids +(.*)|is back .*\(pid (\d+)/g)].flatMap(([, line, back]) =>
      back ? [Number(back)] : [...line!.matchAll(/\d+/g)].map(([pid]) => Number(pid)),
    );
    return child.pid ? [child.pid, ...pids] : pids;
  };
  const stack: StartedStack = {
    child,
    exited,
    output: () => output,
    async waitFor(pattern, timeoutMs = 60_000, from = 0) {
      for (const start = Date.now(); Date.now() - start < timeoutMs;) {
        const match = pattern.exec(output.slice(from));
        if (match) return match;
        if (child.exitCode !== null || child.signalCode !== null) break;
        await sleep(50);
      }
      const match = pattern.exec(output.slice(from));
      if (match) return match;
      throw new Error(`no ${pattern} in the output of npm start:\n${output}`);
    },
    pids() {
      const line = /pids +supervisor (\d+)(?:, nats-server (\d+))?, worker (\d+), gateway (\d+)/.exec(output);
      if (!line) throw new Error(`npm start printed no pids:\n${output}`);
      const [, supervisor, nats, worker, gateway] = line.map(Number);
      return { supervisor: supervisor!, ...(nats ? { nats } : {}), worker: worker!, gateway: gateway! };
    },
    running: () => printedPids().filter(isRunning),
    killAll() {
      // Only what is still one of ours: a pid may have been reused since it was printed.
      const ours = (pid: number) =>
        commandLineOf(pid)?.some((arg) =>
          /npm|nats-server|scripts\/start\.[jt]s|workers\/main\.[jt]s|gateway\/server\.[jt]s/.test(arg),
        );
      for (const pid of stack.running().filter(ours)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone in between: what we wanted
        }
      }
    },
  };
  everyStack.add(stack);
  options.teardown?.teardown(() => stack.killAll());
  return stack;
}

/** Waits until none of `pids` runs (zombies count as gone); returns those still running after `timeoutMs`. */
export async function waitUntilGone(pids: number[], timeoutMs = 30_000): Promise<number[]> {
  for (const start = Date.now(); Date.now() - start < timeoutMs;) {
    if (!pids.some(isRunning)) return [];
    await sleep(50);
  }
  return pids.filter(isRunning);
}
