import { runClosedLoop } from './load/closed-loop.js';
import { runWithCpu } from './load/process-cpu.js';
import { agentbusTarget } from './load/target.js';
import { agentbusPids, startBenchStack } from './stack.js';
import { stopOnSignal } from './stop-on-signal.js';

// `node scripts/run.mjs bench/cpu-per-request.ts [rounds] [requests] [concurrency] [stream]`: the
// A/B measure of issue 21 — CPU time (utime+stime from /proc) that gateway, worker and
// nats-server spend per request over a fixed number of closed-loop requests. CPU per request is
// far steadier than wall-clock figures on a shared, loaded machine. Prints one JSON line a round
// and the medians; run it from two trees at the same time to compare them.

const rounds = Number(process.argv[2] ?? 8);
const requests = Number(process.argv[3] ?? 4000);
const concurrency = Number(process.argv[4] ?? 32);
const stream = process.argv[5] === 'stream';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// BENCH_PROFILE_DIR: CPU profiles of gateway and worker (summarise with bench/profile-summary.ts).
// BENCH_GC_DIR: V8's record of their collections (summarise with bench/gc/summary.ts).
const profileDir = process.env['BENCH_PROFILE_DIR'];
const gcDir = process.env['BENCH_GC_DIR'];
// Handled from the start on, which takes seconds: a signal then waits for the stack to be up to stop it.
const starting = startBenchStack({ workers: 1, ...(profileDir ? { profileDir } : {}), ...(gcDir ? { gcDir } : {}) });
stopOnSignal(() => starting.then((started) => started.stop()));
const stack = await starting;
try {
  const target = agentbusTarget(stack.gatewayUrl);
  const pids = agentbusPids(stack);
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
    const { result, cpu, calls } = await runWithCpu(target, pids, loop);
    const round = { gateway: cpu['gateway']!, worker: cpu['worker']!, nats: cpu['nats']! };
    for (const k of ['gateway', 'worker', 'nats'] as const) per[k].push(round[k]);
    per.total.push(cpu.total);
    per.rps.push(result.requestsPerSecond);
    const line = {
      round: r,
      ...round,
      total: cpu.total,
      rps: result.requestsPerSecond,
      p50: result.latency.p50,
      errors: result.errors,
      calls,
    };
    process.stdout.write(`${JSON.stringify(line)}\n`);
  }
  const summary = Object.fromEntries(Object.entries(per).map(([k, xs]) => [k, Math.round(median(xs))]));
  process.stdout.write(`median µs/request ${JSON.stringify(summary)}\n`);
} finally {
  await stack.stop();
}
