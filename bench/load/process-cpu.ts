import { cpuSecondsOf, ioCallsOf, sleepsOf } from '../../common/process-table.js';
import { runClosedLoop, type ClosedLoopOptions, type ClosedLoopResult } from './closed-loop.js';
import type { Target } from './target.js';

/** Processes by role (gateway, worker, nats): the CPU of each role is the sum of its pids'. */
export type RolePids = Record<string, readonly number[]>;

/** CPU per request, µs, of each role and of all of them together. */
export type CpuPerRequest = Record<string, number> & { total: number };

/** Each role's sum of `read` over its processes (0 for a role with none). */
const sumPerRole = (pids: RolePids, read: (pid: number) => number): Record<string, number> =>
  Object.fromEntries(Object.entries(pids).map(([role, list]) => [role, list.reduce((s, p) => s + read(p), 0)]));

const NO_CALLS = Object.freeze({ reads: 0, writes: 0 });

const ioCalls = (pids: RolePids): Record<string, { reads: number; writes: number }> =>
  Object.fromEntries(
    Object.entries(pids).map(([role, list]) => [
      role,
      // A role may have no process of its own (Portkey's one process has no worker or nats-server).
      list.map(ioCallsOf).reduce((a, b) => ({ reads: a.reads + b.reads, writes: a.writes + b.writes }), NO_CALLS),
    ]),
  );

/** Read and write system calls per request of each role (socket and file alike). */
export type CallsPerRequest = Record<string, { reads: number; writes: number }>;

/**
 * One closed-loop run of `target` with the CPU time (utime + stime from /proc) each role spent
 * during it, per request answered or failed. CPU per request hardly moves with what else a
 * shared machine runs, unlike latency or requests/s; it counts in 10 ms ticks, so a run wants
 * thousands of requests to resolve microseconds. Also the system calls and the sleeps (voluntary
 * context switches) of each role per request.
 */
export async function runWithCpu(
  target: Target,
  pids: RolePids,
  loop: ClosedLoopOptions,
): Promise<{ result: ClosedLoopResult; cpu: CpuPerRequest; calls: CallsPerRequest; sleeps: Record<string, number> }> {
  const before = sumPerRole(pids, cpuSecondsOf);
  const callsBefore = ioCalls(pids);
  const sleepsBefore = sumPerRole(pids, sleepsOf);
  const result = await runClosedLoop(target, loop);
  const after = sumPerRole(pids, cpuSecondsOf);
  const callsAfter = ioCalls(pids);
  const sleepsAfter = sumPerRole(pids, sleepsOf);
  const n = Math.max(1, result.ok + result.errors);
  const perRequest = (count: number) => Math.round((count / n) * 100) / 100;
  const calls: CallsPerRequest = {};
  const slept: Record<string, number> = {};
  const cpu: Record<string, number> = {};
  let total = 0;
  for (const role of Object.keys(pids)) {
    cpu[role] = ((after[role]! - before[role]!) * 1e6) / n;
    total += cpu[role];
    slept[role] = perRequest(sleepsAfter[role]! - sleepsBefore[role]!);
    calls[role] = {
      reads: perRequest(callsAfter[role]!.reads - callsBefore[role]!.reads),
      writes: perRequest(callsAfter[role]!.writes - callsBefore[role]!.writes),
    };
  }
  return { result, cpu: { ...cpu, total }, calls, sleeps: slept };
}
