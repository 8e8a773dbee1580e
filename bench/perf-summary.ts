import { readFileSync } from 'node:fs';

// `node --import tsx bench/perf-summary.ts <perf script output> [top]`: on-CPU samples of one
// process (`perf record -g -e cpu-clock -p PID`, the stack started with BENCH_PERF=1 so perf can
// name V8's compiled functions) charged to the nearest function of our own code on each stack,
// with what ran under it (V8's builtins, node:, libraries). Unlike `--cpu-prof`, which samples wall
// time, a thread preempted inside a system call is not counted: on a loaded machine the socket
// writes that wake another process looked several times heavier there (BENCHMARKS.md).

// Our compiled files (dist/) or sources, never a package's own gateway/, workers/ or common/ directory.
const OWN = /JS:\S?(\S*) file:\/\/\/(?!\S*node_modules)\S*?\/((?:gateway|workers|common|bus-schemas)\/\S+?):\d+/;
const PACKAGE = /node_modules\/((?:@[^/]+\/)?[^/]+)\//;
const NODE_CORE = /JS:\S?\S* node:(\S+?):/;

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: node --import tsx bench/perf-summary.ts <perf script output> [top]\n');
  process.exit(1);
}
const top = Number(process.argv[3] ?? 30);

const byFunction = new Map<string, number>();
const byFile = new Map<string, number>();
const outsideOwn = new Map<string, number>();
const add = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);

let samples = 0;
for (const block of readFileSync(file, 'utf8').split('\n\n')) {
  // A sample: its header line, then its stack from the leaf outwards.
  const frames = block.trim().split('\n').slice(1);
  if (frames.length === 0) continue;
  samples++;
  const own = frames.map((frame) => OWN.exec(frame)).find((m) => m !== null);
  if (own) {
    add(byFunction, `${own[2]} ${own[1] || '(anonymous)'}`);
    add(byFile, own[2]!);
    continue;
  }
  // No code of ours on the stack: the innermost library or node: module on it, else native.
  const named = frames
    .map((frame) => PACKAGE.exec(frame)?.[1] ?? (NODE_CORE.exec(frame)?.[1] && `node:${NODE_CORE.exec(frame)![1]}`))
    .filter((name): name is string => typeof name === 'string');
  add(outsideOwn, named[0] ?? (frames[0]!.includes('[kernel') ? '(kernel)' : '(native: V8, GC, libc)'));
}

const print = (title: string, map: Map<string, number>) => {
  process.stdout.write(`\n${title}\n`);
  for (const [key, count] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top))
    process.stdout.write(`  ${((100 * count) / samples).toFixed(1).padStart(5)}%  ${key}\n`);
};
process.stdout.write(`${file}: ${samples} samples\n`);
print('nearest function of ours (with what it called)', byFunction);
print('by file of ours', byFile);
print('stacks without our code, by their innermost package', outsideOwn);
