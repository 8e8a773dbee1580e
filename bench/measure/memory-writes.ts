import { cpuSecondsOf } from '../../common/process-table.js';
import { runAutocannon } from '../load/autocannon-run.js';
import { warmUp } from '../load/warm-up.js';
import type { Target } from '../load/target.js';
import type { MemoryEngine } from '../memory/engine.js';
import type { BenchOptions } from '../options.js';
import type { BenchStack } from '../stack.js';

/** Figure 5 for one memory engine. */
export interface MemoryWritesFigure {
  turns: number;
  seconds: number;
  workers: number;
  connections: number;
  turnsPerSecondPerWorker: number;
  requestsPerSecondPerWorker: number;
  non2xx: number;
  errors: number;
  /** CPU per committed turn, µs: all workers together, and the database server's own (0 for SQLite). */
  workerCpuUsPerTurn: number | null;
  serverCpuUsPerTurn: number | null;
}

/**
 * The committed-turn count once writes have stopped: a turn is committed after the gateway
 * confirms its last frame, so the count may trail the load generator by a few milliseconds.
 * Bounded: 20 checks of 100 ms.
 */
export async function settledTurns(count: () => Promise<number>): Promise<number> {
  let last = await count();
  for (let i = 0; i < 20; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const now = await count();
    if (now === last) return now;
    last = now;
  }
  return last;
}

/**
 * Figure 5: turns committed per second per worker with the workers' memory on `engine`, at zero
 * upstream delay (so the turn write and the bus are what is left), with the figure-3 load.
 * The workers are started anew on the engine and warmed up first.
 */
export async function measureMemoryWrites(
  stack: BenchStack,
  agentbus: Target,
  engine: MemoryEngine,
  options: BenchOptions,
  say: (line: string) => void,
): Promise<MemoryWritesFigure> {
  await stack.setUpstream({ tokens: options.tokens, latencyMs: 0, tokenDelayMs: 0 });
  await stack.setWorkers(options.workers, { ...engine.workerEnv });
  await warmUp(agentbus, options);
  const workerCpu = () => stack.workers.reduce((sum, w) => sum + cpuSecondsOf(w.child.pid ?? -1), 0);
  const before = await settledTurns(() => engine.committedTurns());
  const cpuBefore = { worker: workerCpu(), server: engine.serverCpuSeconds() };
  const connections = options.throughputConnections;
  const r = await runAutocannon(agentbus, connections, options.throughputSeconds);
  const turns = (await settledTurns(() => engine.committedTurns())) - before;
  const seconds = options.throughputSeconds;
  // CPU time, unlike throughput, hardly moves with what else the machine runs.
  const perTurn = (cpu: number) => (turns > 0 && Number.isFinite(cpu) ? Math.round((cpu * 1e6) / turns) : null);
  const figure: MemoryWritesFigure = {
    turns,
    seconds,
    workers: options.workers,
    connections,
    turnsPerSecondPerWorker: Math.round(turns / seconds / options.workers),
    requestsPerSecondPerWorker: Math.round(r.requestsPerSecond / options.workers),
    non2xx: r.non2xx,
    errors: r.errors,
    workerCpuUsPerTurn: perTurn(workerCpu() - cpuBefore.worker),
    serverCpuUsPerTurn: perTurn(engine.serverCpuSeconds() - cpuBefore.server),
  };
  say(
    `memory writes on ${engine.name}: ${figure.turnsPerSecondPerWorker} turns/s per worker ` +
      `(${turns} turns, ${r.non2xx} non-2xx, ${r.errors} errors; CPU per turn: worker ` +
      `${figure.workerCpuUsPerTurn} µs, database server ${figure.serverCpuUsPerTurn} µs)`,
  );
  return figure;
}
