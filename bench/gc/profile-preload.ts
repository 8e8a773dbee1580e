import { writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { GCProfiler } from 'node:v8';
import { gcRecordOf } from './records.js';

// Loaded with `--import` into gateway and workers when the bench's stack has a GC directory
// (`BENCH_GC_DIR`, bench/stack.ts): V8's own record of every collection (kind, cost, each space
// before and after), written as one JSON file per process when it exits. What the young
// generation promotes is what a CPU profile cannot show: objects kept past their use are copied
// by every scavenge and then collected by the old generation (BENCHMARKS.md, "Garbage collection").
const dir = process.env['BENCH_GC_DIR'];
if (dir) {
  const profiler = new GCProfiler();
  profiler.start();
  // `gateway-server-1234.json`, `workers-main-1234.json`: the entry point names the role.
  const entry = process.argv[1] ?? 'node';
  const name = `${basename(dirname(entry))}-${basename(entry).replace(/\.[jt]s$/, '')}-${process.pid}.json`;
  process.once('exit', () => {
    const result = profiler.stop();
    writeFileSync(join(dir, name), JSON.stringify((result?.statistics ?? []).map(gcRecordOf)));
  });
}
