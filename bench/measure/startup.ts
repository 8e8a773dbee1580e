import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ROOT, startChild, stopChild } from '../../scripts/lib/child-process.js';
import { commandDyingWithThisProcess } from '../../scripts/lib/parent-death.js';
import { freePort } from '../../scripts/lib/ports.js';
import { voiceLine } from '../../scripts/lib/speech-tools.js';
import { listenLine } from '../../scripts/lib/transcription-tools.js';
import { loadWorkerConfig } from '../../workers/config.js';
import { benchTempDir } from '../temp-dir.js';

/** Start to ready in ms, median of the rounds, and each round. */
export interface StartupFigure {
  medianMs: number;
  roundsMs: number[];
  /** CPU time (user + system) the process had used when ready, median: what a busy machine stretches. */
  cpuMs?: number;
}

export interface StartupResult {
  /** How the processes ran: `dist` (compiled, as production) or `tsx` (the sources). */
  runtime: 'dist' | 'tsx';
  /** A gateway, NATS already up: spawn until it listens (its IPC "ready"). */
  gateway: StartupFigure;
  /** A worker, NATS already up: spawn until its NATS service answers (its IPC "ready"). */
  worker: StartupFigure;
  /** `npm start` (nats-server, bus setup, migrations, a worker, the gateway) until it says it runs. */
  stack: StartupFigure & { firstMs: number };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : Math.round((sorted[mid - 1]! + sorted[mid]!) / 2);
};
const figure = (roundsMs: number[]): StartupFigure => ({ medianMs: median(roundsMs), roundsMs });

/** Spawn-to-ready of one entry point, `rounds` times in a row (each stopped before the next). */
async function timeProcess(
  entry: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  rounds: number,
  compiled: boolean,
): Promise<StartupFigure> {
  const times: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const start = performance.now();
    const { child } = await startChild(entry, args, env, { output: 'pipe', timeoutMs: 60_000, compiled });
    times.push(Math.round(performance.now() - start));
    cpu.push(cpuMsOf(child.pid));
    await stopChild(child, 10_000);
  }
  return { ...figure(times), cpuMs: median(cpu) };
}

/** CPU time (user + system) of `pid` so far, from /proc/<pid>/stat; NaN where there is no /proc. */
function cpuMsOf(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Math.round(((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS);
  } catch {
    return NaN;
  }
}
// USER_HZ: 100 on every Linux that node supports.
const CLOCK_TICKS = 100;

/**
 * The `npm start` stacks being timed, each with the promise of its exit: a bench interrupted
 * meanwhile stops them ({@link stopTimedStacks}).
 */
const timedStacks = new Map<ChildProcess, Promise<unknown>>();

/** SIGTERM to a timed `npm start`, which stops its stack; SIGKILL after 15 s. Resolves on its exit. */
async function stopTimedStack(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

/**
 * Stops every `npm start` being timed now. Each runs in a process group of its own, so a Ctrl-C
 * of the bench does not reach it, and nothing watches the bench from there: without this, an
 * interrupted figure 7 left a whole stack running.
 */
export async function stopTimedStacks(): Promise<void> {
  await Promise.all([...timedStacks].map(([child, exited]) => stopTimedStack(child, exited)));
}

/**
 * `npm start`'s own command (scripts/run.mjs, as package.json runs it) with a data directory and
 * nats-server port of its own, until it prints "agentbus is running"; then SIGTERM, awaited.
 */
async function timeStack(env: NodeJS.ProcessEnv, dataDir: string, natsConf: string, compiled: boolean) {
  const start = performance.now();
  const command = compiled ? ['scripts/run.mjs', 'scripts/start.ts'] : ['--import', 'tsx', 'scripts/start.ts'];
  // SIGTERM when the bench is gone, however it ended: start.ts watches its parent only under npm.
  const [executable, args] = commandDyingWithThisProcess(process.execPath, command);
  const child = spawn(executable, args, {
    cwd: ROOT,
    env: { ...env, DATA_DIR: dataDir, NATS_CONF: natsConf, NATS_URL: '', PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      timedStacks.delete(child);
      resolve(code);
    }),
  );
  timedStacks.set(child, exited);
  const ready = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start was not running after 60 s:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += String(chunk);
      if (!output.includes('agentbus is running')) return;
      clearTimeout(timer);
      resolve(Math.round(performance.now() - start));
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`npm start exited with ${code} before it ran:\n${output}`));
    });
  });
  try {
    return await ready;
  } finally {
    await stopTimedStack(child, exited);
  }
}

/**
 * Start to ready of a gateway and of a worker on the bench's running NATS (`env` names it and
 * the fake upstream), and of the whole `npm start` stack: its first start in an empty data
 * directory (credentials, bus setup, migrations; the speech engines already installed), then
 * restarts on that directory (the median).
 */
export async function measureStartup(
  env: NodeJS.ProcessEnv,
  rounds: number,
  runtime: StartupResult['runtime'],
  say: (line: string) => void,
): Promise<StartupResult> {
  const quiet = { ...env, LOG_LEVEL: 'warn' };
  const compiled = runtime === 'dist';
  const dir = benchTempDir('startup-');
  try {
    const workerEnv = { ...quiet, DATA_DIR: join(dir, 'w') };
    const worker = await timeProcess('workers/main.ts', ['--agents', 'testing'], workerEnv, rounds, compiled);
    say(`start to ready: worker ${worker.medianMs} ms (${worker.roundsMs.join(', ')}; CPU ${worker.cpuMs} ms)`);
    const gateway = await timeProcess('gateway/server.ts', [], { ...quiet, PORT: '0' }, rounds, compiled);
    say(`start to ready: gateway ${gateway.medianMs} ms (${gateway.roundsMs.join(', ')}; CPU ${gateway.cpuMs} ms)`);

    const natsConf = join(dir, 'nats.conf');
    const port = await freePort('127.0.0.1');
    writeFileSync(natsConf, readFileSync(join(ROOT, 'nats.conf'), 'utf8').replace(/^port: \d+/m, `port: ${port}`));
    const stackEnv = { ...quiet, LOG_DIR: join(dir, 'logs') };
    const dataDir = join(dir, 'stack');
    // npm start installs the speech engines on a new machine once (as root): done before the clock
    // starts, so the first start measures what every empty data directory costs, not that install.
    const voice = loadWorkerConfig(stackEnv);
    voiceLine(voice.speech, say, voice.audio);
    listenLine(voice.transcription, say, voice.audio);
    const firstMs = await timeStack(stackEnv, dataDir, natsConf, compiled);
    const restarts: number[] = [];
    for (let i = 0; i < rounds; i++) restarts.push(await timeStack(stackEnv, dataDir, natsConf, compiled));
    const stack = { ...figure(restarts), firstMs };
    say(`start to ready: npm start ${stack.medianMs} ms (${restarts.join(', ')}; first start ${firstMs} ms)`);
    return { runtime, gateway, worker, stack };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
