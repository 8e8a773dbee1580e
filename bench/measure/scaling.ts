import { warmUp } from '../load/warm-up.js';
import { runAutocannon } from '../load/autocannon-run.js';
import { ratio } from '../load/stats.js';
import type { Target } from '../load/target.js';
import type { MemoryEngine } from '../memory/engine.js';
import type { BenchOptions } from '../options.js';
import type { BenchStack } from '../stack.js';
import { settledTurns } from './memory-writes.js';

/** Model calls each worker runs at once in figure 4: the default MAX_INFLIGHT, a capacity per worker. */
export const SCALING_INFLIGHT = 4;

export interface ScalingFigure {
  upstreamLatencyMs: number;
  maxInflightPerWorker: number;
  connections: number;
  points: Array<{
    workers: number;
    requestsPerSecond: number;
    non2xx: number;
    errors: number;
    perWorker: number;
    /** Turns committed per second in the engine during the point (one per answered request). */
    turnsPerSecond: number;
  }>;
  /** Throughput at the most workers over (one worker's × that count): 1 is linear. */
  efficiency: number | null;
}

/**
 * Figure 4: throughput with 1, 2, 4… worker processes when each model call takes a fixed
 * time and each worker runs SCALING_INFLIGHT at once, so capacity comes from the workers and
 * not from the CPU. Enough connections to keep the most workers busy, within their queues.
 * The workers keep their memory on `engine`, whose committed turns are counted per point; each
 * point's new workers are warmed up first.
 */
export async function measureScaling(
  stack: BenchStack,
  agentbus: Target,
  engine: MemoryEngine,
  options: BenchOptions,
  say: (line: string) => void,
): Promise<ScalingFigure> {
  const most = Math.max(...options.scalingWorkers);
  const connections = 2 * most * SCALING_INFLIGHT;
  await stack.setUpstream({ latencyMs: options.scalingLatencyMs, tokenDelayMs: 0, tokens: options.tokens });
  const points: ScalingFigure['points'] = [];
  for (const workers of options.scalingWorkers) {
    await stack.setWorkers(workers, {
      ...engine.workerEnv,
      MAX_INFLIGHT: String(SCALING_INFLIGHT),
      MAX_QUEUED: String(connections),
    });
    // New worker processes: their first requests pay for JIT and the database pool, which a short
    // point (half a second with --tiny) can spend whole on a busy machine.
    await warmUp(agentbus, options);
    const before = await settledTurns(() => engine.committedTurns());
    const r = await runAutocannon(agentbus, connections, options.scalingSeconds);
    const turns = (await settledTurns(() => engine.committedTurns())) - before;
    points.push({
      workers,
      requestsPerSecond: r.requestsPerSecond,
      non2xx: r.non2xx,
      errors: r.errors,
      perWorker: Math.round(r.requestsPerSecond / workers),
      turnsPerSecond: Math.round(turns / options.scalingSeconds),
    });
    say(`scaling on ${engine.name}, ${workers} worker(s): ${r.requestsPerSecond} req/s (${r.non2xx} non-2xx)`);
  }
  const first = points[0],
    last = points[points.length - 1];
  const efficiency =
    first && last && last !== first
      ? ratio(last.requestsPerSecond, first.requestsPerSecond * (last.workers / first.workers))
      : null;
  return {
    upstreamLatencyMs: options.scalingLatencyMs,
    maxInflightPerWorker: SCALING_INFLIGHT,
    connections,
    points,
    efficiency,
  };
}
