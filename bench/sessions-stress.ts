import { spawn, type ChildProcess } from 'node:child_process';
import { agentbusTarget } from './load/target.js';
import { measureWebSocketSessions } from './measure/sessions.js';
import { readBenchOptions } from './options.js';
import { stopOnSignal } from './stop-on-signal.js';
import { startBenchStackOf } from './tree-stack.js';

// `node scripts/run.mjs bench/sessions-stress.ts HOGS TREE…`: figure 3's 10,000 WebSocket sessions
// on a machine slowed by HOGS busy loops, for each tree in turn (its stack from its own dist/,
// built with `node scripts/build.mjs` there; the load is this tree's). Stop 30's second full run
// lost 180 sessions when the machine ran at half speed; two hogs on this 2-core machine reproduce
// that, far worse, on code from before the worker beats (BENCHMARKS.md, "10,000 streams").

const [hogsArg, ...trees] = process.argv.slice(2);
const hogs = Number(hogsArg);
if (!Number.isInteger(hogs) || hogs < 0 || trees.length === 0) {
  process.stderr.write('usage: node scripts/run.mjs bench/sessions-stress.ts HOGS TREE [TREE…]\n');
  process.exit(2);
}
const options = readBenchOptions(['--streams=10000', '--no-markdown']);
const say = (line: string) => process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);

// A busy loop that ends with this script (even when it is killed) and after 10 minutes in any case.
const HOG = [
  'const parent = Number(process.argv[1]), end = Date.now() + 600000;',
  'const alive = () => { try { process.kill(parent, 0); return Date.now() < end; } catch { return false; } };',
  'for (let i = 1; i % 1e7 !== 0 || alive(); i++);',
].join('\n');

for (const tree of trees) {
  const stack = await (await startBenchStackOf(tree))({ workers: 1 });
  const stopHandlingSignals = stopOnSignal(() => stack.stop());
  const busy: ChildProcess[] = [];
  try {
    await stack.setUpstream({ tokens: options.streamTokens, latencyMs: 0, tokenDelayMs: options.streamTokenDelayMs });
    for (let i = 0; i < hogs; i++)
      busy.push(spawn(process.execPath, ['-e', HOG, String(process.pid)], { stdio: 'ignore' }));
    const { result } = await measureWebSocketSessions(agentbusTarget(stack.gatewayUrl), undefined, options, () => {});
    const metrics = await (await fetch(`${stack.gatewayUrl}/metrics`)).text();
    const waits = /^agentbus_unread_waits_total\{agent="testing"\} (\d+)/m.exec(metrics)?.[1] ?? 'none';
    say(`${tree}: ${result.whole}/10000 whole, ${result.lost} lost, unread waits ${waits}`);
    if (result.firstError) say(`  first error: ${result.firstError}`);
  } finally {
    for (const child of busy) child.kill('SIGKILL');
    await stack.stop();
    stopHandlingSignals();
  }
}
