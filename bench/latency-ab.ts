import { runClosedLoop } from './load/closed-loop.js';
import { median, round } from './load/stats.js';
import { agentbusTarget } from './load/target.js';
import { warmUp } from './load/warm-up.js';
import { stopOnSignal } from './stop-on-signal.js';
import type { BenchStack } from './stack.js';
import { startBenchStackOf } from './tree-stack.js';

// `node scripts/run.mjs bench/latency-ab.ts TREE_A TREE_B [blocks] [requests per block]`: the
// latency A/B of issue 21 at concurrency 1. Two stacks, each from its own tree's dist/ (built
// with `node scripts/build.mjs` there), run side by side, but requests go to one at a time, in
// alternating blocks (A B, B A, …): both see the same machine, and neither loads the other, as two
// closed loops at once would. Prints each block's p50 and the ratio of the medians, B ÷ A.

const [treeA, treeB] = process.argv.slice(2, 4);
if (!treeA || !treeB) {
  process.stderr.write('usage: node scripts/run.mjs bench/latency-ab.ts TREE_A TREE_B [blocks] [requests]\n');
  process.exit(2);
}
const blocks = Number(process.argv[4] ?? 12);
const perBlock = Number(process.argv[5] ?? 250);
const WARM_UP = { warmupRequests: 800, tokens: 16 };

// Handled from the starts on: a signal then waits for each stack to be up to stop it.
const starting: Array<Promise<BenchStack>> = [];
stopOnSignal(() =>
  Promise.all(
    starting.map((start) =>
      start.then(
        (stack) => stack.stop(),
        () => undefined,
      ),
    ),
  ),
);
const startOf = (tree: string) => {
  const start = startBenchStackOf(tree).then((startStack) => startStack({ workers: 1 }));
  starting.push(start);
  return start;
};
const stacks = { A: await startOf(treeA), B: await startOf(treeB) };
try {
  const loop = { concurrency: 1, durationMs: 600_000, stream: false, expectTokens: 16 };
  const p50s: Record<'A' | 'B', number[]> = { A: [], B: [] };
  for (const side of ['A', 'B'] as const) await warmUp(agentbusTarget(stacks[side].gatewayUrl), WARM_UP);
  for (let b = 0; b < blocks; b++) {
    for (const side of b % 2 === 0 ? (['A', 'B'] as const) : (['B', 'A'] as const)) {
      const result = await runClosedLoop(agentbusTarget(stacks[side].gatewayUrl), { ...loop, maxRequests: perBlock });
      if (result.errors > 0) throw new Error(`${side}: ${result.errors} failed requests (${result.firstError})`);
      p50s[side].push(result.latency.p50);
    }
  }
  const a = median(p50s.A);
  const b = median(p50s.B);
  process.stdout.write(`A block p50s ${JSON.stringify(p50s.A)}\nB block p50s ${JSON.stringify(p50s.B)}\n`);
  process.stdout.write(`median p50 A ${round(a)} ms, B ${round(b)} ms, B ÷ A ${round(b / a)}\n`);
} finally {
  await stacks.A.stop();
  await stacks.B.stop();
}
