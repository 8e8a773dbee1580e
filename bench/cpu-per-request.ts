import { readdirSync, readFileSync } from 'node:fs';
import { runClosedLoop } from './load/closed-loop.js';
import type { Target } from './load/target.js';
import { startBenchStack } from './stack.js';

// `node scripts/run.mjs bench/cpu-per-request.ts [rounds] [requests] [concurrency] [stream]`: the
// A/B measure of issue 21 — CPU time (utime+stime from /proc) that gateway, worker and
// nats-server spend per request over a fixed number of closed-loop requests. CPU per request is
// far steadier than wall-clock figures on a shared, loaded machine. Prints one JSON line a round
// and the medians; run it from two trees at the same time to compare them.

const rounds = Number(process.argv[2] ?? 8);
const requests = Number(process.argv[3] ?? 4000);
const concurrency = Number(process.argv[4] ?? 32);
const stream = process.argv[5] === 'stream';
const TICKS_PER_MS = 100 / 1000; // CLK_TCK is 100 on Linux

const cpuTicks = (pid: number): number => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
};

/** Every descendant process of this one whose command name is `comm`. */
const descendantsNamed = (comm: string): number[] => {
  const parents = new Map<number, number>();
  const names = new Map<number, string>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      names.set(Number(entry), stat.slice(stat.indexOf('(') + 1, close));
      parents.set(Number(entry), Number(stat.slice(close + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const isOurs = (pid: number): boolean => {
    for (let p = parents.get(pid); p; p = parents.get(p)) if (p === process.pid) return true;
    return false;
  };
  return [...names].filter(([pid, name]) => name === comm && isOurs(pid)).map(([pid]) => pid);
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// BENCH_PROFILE_DIR: CPU profiles of gateway and worker (summarise with bench/profile-summary.ts).
const profileDir = process.env['BENCH_PROFILE_DIR'];
const stack = await startBenchStack({ workers: 1, ...(profileDir ? { profileDir } : {}) });
try {
  const target: Target = {
    name: 'agentbus',
    url: stack.gatewayUrl,
    path: '/v1/chat/completions',
    headers: { authorization: 'Bearer local-only' },
    model: 'testing',
  };
  const pids = {
    gateway: stack.gateway.child.pid!,
    worker: stack.workers[0]!.child.pid!,
    nats: descendantsNamed('nats-server')[0]!,
  };
  const loop = { concurrency, maxRequests: requests, durationMs: 600_000, stream, expectTokens: 16 };
  await runClosedLoop(target, { ...loop, maxRequests: 1000 }); // warm-up: JIT, statement cache
  const per: Record<'gateway' | 'worker' | 'nats' | 'total' | 'rps', number[]> = {
    gateway: [],
    worker: [],
    nats: [],
    total: [],
    rps: [],
  };
  for (let r = 0; r < rounds; r++) {
    const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuTicks(pid)]));
    const result = await runClosedLoop(target, loop);
    const n = result.ok + result.errors;
    const us = (k: keyof typeof pids) => ((cpuTicks(pids[k]) - before[k]!) / TICKS_PER_MS / n) * 1000;
    const round = { gateway: us('gateway'), worker: us('worker'), nats: us('nats') };
    const total = round.gateway + round.worker + round.nats;
    for (const k of ['gateway', 'worker', 'nats'] as const) per[k].push(round[k]);
    per.total.push(total);
    per.rps.push(result.requestsPerSecond);
    const line = {
      round: r,
      ...round,
      total,
      rps: result.requestsPerSecond,
      p50: result.latency.p50,
      errors: result.errors,
    };
    process.stdout.write(`${JSON.stringify(line)}\n`);
  }
  const summary = Object.fromEntries(Object.entries(per).map(([k, xs]) => [k, Math.round(median(xs))]));
  process.stdout.write(`median µs/request ${JSON.stringify(summary)}\n`);
} finally {
  await stack.stop();
}
