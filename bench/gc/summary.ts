import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { summariseGcs, type GcRecord } from './records.js';

// `node scripts/run.mjs bench/gc/summary.ts <dir>`: per process of a run with BENCH_GC_DIR, its
// scavenges and what they promoted (BENCHMARKS.md, "Garbage collection").
const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: node scripts/run.mjs bench/gc/summary.ts <BENCH_GC_DIR>\n');
  process.exit(1);
}
const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
  const s = summariseGcs(JSON.parse(readFileSync(join(dir, file), 'utf8')) as GcRecord[]);
  const share = s.allocated > 0 ? ((100 * s.promoted) / s.allocated).toFixed(1) : '-';
  process.stdout.write(
    `${file}: ${s.scavenges} scavenges (${s.scavengeMs.toFixed(0)} ms on the main thread), ` +
      `${s.otherGcs} other (${s.otherGcMs.toFixed(0)} ms); allocated ${mb(s.allocated)} MiB, ` +
      `promoted ${mb(s.promoted)} MiB (${share} %)\n`,
  );
}
