import { cpuSecondsOf } from '../../scripts/lib/process-table.js';
import { runClosedLoop, type ClosedLoopOptions, type ClosedLoopResult } from './closed-loop.js';
import type { Target } from './target.js';

/** Processes by role (gateway, worker, nats): the CPU of each role is the sum of its pids'. */
export type RolePids = Record<string, readonly number[]>;

/** CPU per request, µs, of each role and of all of them together. */
export type CpuPerRequest = Record<string, number> & { total: number };

const cpuSeconds = (pids: RolePids): Record<string, number> =>
  Object.fromEntries(Object.entries(pids).map(([role, list]) => [role, list.reduce((s, p) => s + cpuSecondsOf(p), 0)]));

/**
 * One closed-loop run of `target` with the CPU time (utime + stime from /proc) each role spent
 * during it, per request answered or failed. CPU per request hardly moves with what else a
 * shared machine runs, unlike latency or requests/s; it counts in 10 ms ticks, so a run wants
 * thousands of requests to resolve microseconds.
 */
export async function runWithCpu(
  target: Target,
  pids: RolePids,
  loop: ClosedLoopOptions,
): Promise<{ result: ClosedLoopResult; cpu: CpuPerRequest }> {
  const before = cpuSeconds(pids);
  const result = await runClosedLoop(target, loop);
  const after = cpuSeconds(pids);
  const n = Math.max(1, result.ok + result.errors);
  const cpu: Record<string, number> = {};
  let total = 0;
  for (const role of Object.keys(pids)) {
    cpu[role] = ((after[role]! - before[role]!) * 1e6) / n;
    total += cpu[role];
  }
  return { result, cpu: { ...cpu, total } };
}
