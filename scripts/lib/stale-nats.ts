import { basename } from 'node:path';
import { readNatsRecord } from './nats-record.js';
import { composedConfFile } from './nats-server-conf.js';
import { commandLineOf, findProcesses, isRunning, parentOf, waitForExit } from '../../common/process-table.js';

// A supervisor killed hard (SIGKILL, OOM) cannot stop its nats-server, which, unlike the
// gateway and the worker, cannot notice that its parent is gone: only a parent-death signal ends
// it (parent-death.ts), and where setpriv is missing, or an older start left it, the next start finds it.

const STOP_GRACE_MS = 5000;

/**
 * True when `argv` is a nats-server whose JetStream store is `storeDir`: given by `-sd`, or in
 * `confFile` (npm start's composed configuration names it, so that reloads work).
 */
function isNatsServerOn(argv: string[], storeDir: string, confFile: string): boolean {
  const value = (flag: string) => {
    const at = argv.indexOf(flag);
    return at > 0 ? argv[at + 1] : undefined;
  };
  if (!basename(argv[0] ?? '').startsWith('nats-server')) return false;
  return value('-sd') === storeDir || (value('-sd') === undefined && value('-c') === confFile);
}

/** True when `argv` is an `npm start` supervisor (scripts/start.ts, or dist/scripts/start.js, run by node). */
const isSupervisor = (argv: string[] | undefined) =>
  argv?.some((arg) => /(^|\/)scripts\/start\.[jt]s$/.test(arg)) ?? false;

/**
 * Stops every nats-server serving `storeDir` that an earlier `npm start` left running: the one
 * its record in DATA_DIR names (checked: still a nats-server on this store), and any other
 * found in the process table. SIGTERM, then SIGKILL after 5 s. Throws, stopping nothing, when
 * one still belongs to a running `npm start` (two stacks on one DATA_DIR would share the
 * JetStream folder). Returns the pids stopped.
 */
export async function stopStaleNatsServers(
  dataDir: string,
  storeDir: string,
  say: (line: string) => void,
): Promise<number[]> {
  const recorded = readNatsRecord(dataDir);
  const confFile = composedConfFile(dataDir);
  const candidates = new Set(findProcesses((argv) => isNatsServerOn(argv, storeDir, confFile)));
  const recordedArgv = recorded?.pid ? commandLineOf(recorded.pid) : undefined;
  if (recorded?.pid && recordedArgv && isNatsServerOn(recordedArgv, storeDir, confFile)) candidates.add(recorded.pid);
  const stale = [...candidates].filter((pid) => pid !== process.pid);

  for (const pid of stale) {
    const parent = parentOf(pid);
    if (parent !== undefined && parent !== process.pid && isSupervisor(commandLineOf(parent)))
      throw new Error(
        `another npm start (pid ${parent}) is running on ${dataDir}: its nats-server (pid ${pid}) uses ` +
          `${storeDir}. Stop that one first (Ctrl-C in its terminal, or kill ${parent}), or give this one ` +
          'another DATA_DIR.',
      );
  }
  for (const pid of stale) {
    const port = pid === recorded?.pid ? ` on port ${recorded.port}` : '';
    say(`stopping the nats-server (pid ${pid}${port}) an earlier npm start left running on ${storeDir}`);
    signal(pid, 'SIGTERM');
    if (!(await waitForExit(pid, STOP_GRACE_MS))) {
      signal(pid, 'SIGKILL');
      if (!(await waitForExit(pid, STOP_GRACE_MS)))
        throw new Error(`the nats-server (pid ${pid}) left running on ${storeDir} does not stop`);
    }
  }
  return stale;
}

/** Sends `name` to `pid`; one that is gone already is what we wanted. */
function signal(pid: number, name: NodeJS.Signals): void {
  try {
    if (isRunning(pid)) process.kill(pid, name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}
