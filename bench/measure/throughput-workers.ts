import { runAutocannon, type ThroughputResult } from '../load/autocannon-run.js';
import { warmUp } from '../load/warm-up.js';
import type { Target } from '../load/target.js';
import type { BenchOptions } from '../options.js';
import type { BenchStack } from '../stack.js';

/** Figure 3's extra row: agentbus's throughput with this many worker processes (issue 21, goal 3). */
export const MORE_WORKERS = 2;

export interface MoreWorkersThroughput extends ThroughputResult {
  workers: number;
  connections: number;
}

/**
 * Figure 3a again for agentbus with MORE_WORKERS worker processes (`workerEnv`: the first
 * memory engine's, as figures 1–3 had): the figure 1–3 workers plus new ones, warmed up, the
 * same load as figure 3a.
 * On a 2-core machine this shows whether a second worker buys anything when gateway,
 * nats-server, the load generator and the upstream share the same cores. The workers are
 * left running: the next figures start their own.
 */
export async function measureMoreWorkersThroughput(
  stack: BenchStack,
  agentbus: Target,
  workerEnv: Record<string, string>,
  options: BenchOptions,
  say: (line: string) => void,
): Promise<MoreWorkersThroughput> {
  await stack.setUpstream({ tokens: options.tokens, latencyMs: 0, tokenDelayMs: 0 });
  // The running workers stay (warm, on the same engine); only the missing ones start.
  if (stack.workers.length < MORE_WORKERS) await stack.addWorkers(MORE_WORKERS - stack.workers.length, workerEnv);
  else await stack.setWorkers(MORE_WORKERS, workerEnv);
  await warmUp(agentbus, options);
  const r = await runAutocannon(agentbus, options.throughputConnections, options.throughputSeconds);
  say(`throughput agentbus, ${MORE_WORKERS} workers: ${r.requestsPerSecond} req/s (${r.non2xx} non-2xx)`);
  return { ...r, workers: MORE_WORKERS, connections: options.throughputConnections };
}
