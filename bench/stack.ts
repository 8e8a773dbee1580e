import { fork, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, startChild, stopChild } from '../scripts/lib/child-process.js';
import { nodeEntry } from '../scripts/lib/entry-point.js';
import { findNatsServer, startNatsServer, type RunningNatsServer } from '../scripts/lib/nats-server.js';
import { benchTempDir } from './temp-dir.js';
import type { UpstreamBehaviour } from './upstream/fake-upstream.js';

/** A process the harness started, with what the footprint figure needs. */
export interface BenchProcess {
  readonly role: 'gateway' | 'worker' | 'upstream' | 'portkey' | 'floor';
  readonly child: ChildProcess;
}

/** Everything one benchmark run starts; `stop()` ends all of it, in reverse order. */
export interface BenchStack {
  readonly natsUrl: string;
  /** The nats-server's pid, for CPU per request. */
  readonly natsPid: number;
  readonly upstreamUrl: string;
  readonly gatewayUrl: string;
  readonly dataDir: string;
  /** What a gateway or worker of this stack is started with (NATS, the fake upstream as Ollama). */
  readonly env: Record<string, string>;
  readonly gateway: BenchProcess;
  readonly workers: readonly BenchProcess[];
  /** Replaces the running workers by `count` new ones with `env` over the stack's. */
  setWorkers(count: number, env?: Record<string, string>): Promise<void>;
  /** Starts `count` more workers with `env` over the stack's, beside the running ones. */
  addWorkers(count: number, env?: Record<string, string>): Promise<void>;
  /** Changes how the fake upstream answers from the next request on. */
  setUpstream(behaviour: Partial<UpstreamBehaviour>): Promise<void>;
  /** Registers another process (Portkey, the floor's) to be stopped with the stack. */
  adopt(process: BenchProcess): void;
  /** A file descriptor on `<logs>/<name>.out` for another process's output, closed by `stop()`. */
  outFile(name: string): number;
  stop(): Promise<void>;
}

export interface StackSettings {
  workers: number;
  /** Directory for CPU profiles of gateway and workers (`node --cpu-prof`), or none. */
  profileDir?: string;
  /** Directory for V8's record of each collection in gateway and workers (bench/gc/), or none. */
  gcDir?: string;
  /** Extra environment for gateway and workers (e.g. LOG_LEVEL). */
  env?: Record<string, string>;
  /** Extra environment for the first workers only (the memory engine's DATABASE_URL). */
  workerEnv?: Record<string, string>;
}

// Benchmarks measure the bus, not the worker's admission queue: the defaults (MAX_INFLIGHT=4,
// MAX_QUEUED=16) would answer most of 256 concurrent requests with 503 overloaded, and the
// streams figure holds up to 10,000 model calls open at once (--streams=10000).
export const WIDE_ADMISSION = { MAX_INFLIGHT: '16384', MAX_QUEUED: '16384' };

/** agentbus's processes by role (gateway, its workers, nats-server), as CPU per request counts them. */
export function agentbusPids(stack: BenchStack): { gateway: number[]; worker: number[]; nats: number[] } {
  return {
    gateway: [stack.gateway.child.pid!],
    worker: stack.workers.map((w) => w.child.pid!),
    nats: [stack.natsPid],
  };
}

/**
 * Starts a nats-server (random port, own JetStream dir), the fake upstream, a gateway and
 * `workers` worker processes, all on loopback, with the data, logs and JetStream store in one
 * temp dir removed by `stop()` (or by the next run, when this one was killed outright). Child output
 * goes to `<dir>/logs/*.out`, kept only on failure.
 */
export async function startBenchStack(settings: StackSettings): Promise<BenchStack> {
  const binary = findNatsServer();
  if (!binary)
    throw new Error('nats-server is not installed; run "apt-get install nats-server" (see README, Troubleshooting)');
  const dir = benchTempDir();
  const logDir = join(dir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const processes: BenchProcess[] = [];
  let nats: RunningNatsServer | undefined;
  let workers: BenchProcess[] = [];
  let workerSeq = 0;
  const fds: number[] = [];
  const outFile = (name: string) => {
    const fd = openSync(join(logDir, `${name}.out`), 'a');
    fds.push(fd);
    return fd;
  };
  // One directory per process: a thread of its own (tsx's loader, under tests) writes a profile too.
  const nodeArgs = (name: string) => [
    // BENCH_PERF: a /tmp/perf-PID.map of compiled functions, for `perf record` (bench/perf-summary.ts).
    ...(process.env['BENCH_PERF'] ? ['--perf-basic-prof'] : []),
    ...(settings.profileDir ? ['--cpu-prof', '--cpu-prof-dir', join(settings.profileDir, name)] : []),
    ...(settings.gcDir ? ['--import', pathToFileURL(nodeEntry('bench/gc/profile-preload.ts').file).href] : []),
  ];

  const stop = async () => {
    for (const p of [...processes].reverse()) await stopChild(p.child, 10_000).catch(() => undefined);
    processes.length = 0;
    await nats?.stop();
    for (const fd of fds.splice(0)) closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const natsOut = outFile('nats');
    // Kept with the others' output (slow consumers, JetStream warnings). The pipe may still hold the
    // server's last lines after its exit: once stop() took the fd off the list, its number may be reused.
    const natsOutput = (text: string) => {
      if (!fds.includes(natsOut)) return;
      try {
        writeSync(natsOut, text);
      } catch {
        // A full disk loses the log, not the run.
      }
    };
    nats = await startNatsServer({ binary, port: -1, storeDir: join(dir, 'jetstream'), output: natsOutput });
    // Compiled like gateway and workers when the bench runs compiled (`npm run bench`).
    const upstreamEntry = nodeEntry('bench/upstream/main.ts');
    const upstreamChild = fork(upstreamEntry.file, [], {
      cwd: ROOT,
      execArgv: upstreamEntry.execArgv,
      detached: true,
      stdio: ['ignore', outFile('upstream'), outFile('upstream'), 'ipc'],
    });
    processes.push({ role: 'upstream', child: upstreamChild });
    const upstreamUrl = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the fake upstream did not start within 20 s')), 20_000);
      upstreamChild.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the fake upstream exited with ${code}`));
      });
      upstreamChild.on('message', (m: { type?: string; url?: string }) => {
        if (m?.type === 'ready' && m.url) {
          clearTimeout(timer);
          resolve(m.url);
        }
      });
    });
    upstreamChild.removeAllListeners('exit');

    const env: NodeJS.ProcessEnv = {
      ...process.env,
      LOG_FORMAT: 'json',
      NATS_URL: nats.url,
      OLLAMA_URL: upstreamUrl,
      DATA_DIR: join(dir, 'data'),
      LOG_DIR: join(dir, 'trace-logs'),
      // The response cache would answer repeated identical requests without the model.
      CACHE_TTL_SECONDS: '0',
      DEFAULT_MODEL: 'bench',
      HOST: '127.0.0.1',
      PORT: '0',
      ...(settings.gcDir ? { BENCH_GC_DIR: settings.gcDir } : {}),
      ...settings.env,
    };
    // The worker migrates the database; the gateway only reads it: workers first.
    const startWorkers = async (count: number, extra: Record<string, string>) => {
      const started: BenchProcess[] = [];
      for (let i = 0; i < count; i++) {
        const name = `worker-${++workerSeq}`;
        const { child } = await startChild(
          'workers/main.ts',
          ['--agents', 'testing'],
          { ...env, ...WIDE_ADMISSION, ...extra },
          { output: outFile(name), nodeArgs: nodeArgs(name), timeoutMs: 60_000 },
        );
        const p: BenchProcess = { role: 'worker', child };
        processes.push(p);
        started.push(p);
      }
      return started;
    };
    workers = await startWorkers(settings.workers, settings.workerEnv ?? {});
    const gw = await startChild('gateway/server.ts', [], env, {
      output: outFile('gateway'),
      nodeArgs: nodeArgs('gateway'),
      timeoutMs: 60_000,
    });
    const gateway: BenchProcess = { role: 'gateway', child: gw.child };
    processes.push(gateway);
    const gatewayUrl = String(gw.ready['url']).replace('localhost', '127.0.0.1');

    return {
      natsUrl: nats.url,
      natsPid: nats.process.pid!,
      upstreamUrl,
      gatewayUrl,
      dataDir: env['DATA_DIR']!,
      env: {
        LOG_FORMAT: 'json',
        NATS_URL: nats.url,
        OLLAMA_URL: upstreamUrl,
        DEFAULT_MODEL: 'bench',
        CACHE_TTL_SECONDS: '0',
        HOST: '127.0.0.1',
        ...settings.env,
      },
      gateway,
      get workers() {
        return workers;
      },
      async setWorkers(count, extra = {}) {
        // New ones first: the agent is never without a worker (no 503 no_worker between phases).
        const old = workers;
        workers = await startWorkers(count, extra);
        for (const p of old) {
          await stopChild(p.child, 10_000);
          processes.splice(processes.indexOf(p), 1);
        }
      },
      async addWorkers(count, extra = {}) {
        workers = [...workers, ...(await startWorkers(count, extra))];
      },
      async setUpstream(behaviour) {
        const res = await fetch(`${upstreamUrl}/__bench/config`, { method: 'POST', body: JSON.stringify(behaviour) });
        if (!res.ok) throw new Error(`fake upstream refused its config: ${res.status}`);
      },
      adopt(p) {
        processes.push(p);
      },
      outFile,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
