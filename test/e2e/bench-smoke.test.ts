import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import t from 'tap';
import { runBench } from '../../bench/main.js';
import { rssMb } from '../../bench/measure/footprint.js';

// A smoke of the benchmark harness, never a timing assertion: it starts its own nats-server,
// fake upstream, gateway and one worker, measures a few requests per figure, writes its
// files and stops every process it started.
/** Live child processes of this test process (tsx's esbuild service among them). */
function children(): number[] {
  const out = execFileSync('ps', ['-o', 'pid=', '--ppid', String(process.pid)], { encoding: 'utf8' });
  // `ps` itself has exited by the time its output is read: only live processes have an RSS.
  return out
    .split('\n')
    .map((s) => Number(s.trim()))
    .filter((pid) => pid > 0 && rssMb(pid) > 0);
}

t.test('npm run bench -- --tiny measures every figure, writes its JSON and stops everything', async (t) => {
  const before = children();
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-bench-smoke-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'result.json');
  const result = await runBench(['--tiny', `--out=${out}`]);

  t.ok(existsSync(out), 'the JSON result is written');
  t.ok(existsSync(join(dir, 'result.md')), 'the markdown table is written next to it');
  const written = JSON.parse(readFileSync(out, 'utf8'));
  t.same(Object.keys(written).sort(), [
    'addedLatency',
    'footprint',
    'memoryWrites',
    'meta',
    'scaling',
    'startup',
    'streams',
    'throughput',
    'ttft',
  ]);
  t.equal(written.meta.mode, 'tiny');
  t.equal(written.meta.portkey, null, 'no Portkey in the smoke');
  t.same(
    written.addedLatency.map((p: { concurrency: number }) => p.concurrency),
    [1, 4],
  );
  for (const point of [...written.addedLatency, ...written.ttft]) {
    t.same(Object.keys(point.targets).sort(), ['agentbus', 'direct']);
    t.equal(point.targets.agentbus.errors, 0, `no errors through agentbus at concurrency ${point.concurrency}`);
    t.ok(point.targets.agentbus.ok > 0, 'requests were measured');
    t.type(point.added.agentbus.p50, 'number');
  }
  t.ok(written.throughput.targets.agentbus.total > 0, 'throughput measured');
  t.equal(written.streams.targets.agentbus.lost, 0, 'no stream lost or cut');
  t.ok(written.memoryWrites.turns > 0, 'turns were committed to the SQLite memory');
  t.equal(written.scaling.points.length, 1);
  t.ok(written.footprint.idle.gateway > 0 && written.footprint.load.worker > 0, 'RSS read from /proc');
  t.equal(result.meta.workers, 1);
  for (const role of ['gateway', 'worker', 'stack'] as const)
    t.ok(written.startup[role].medianMs > 0, `start to ready of ${role} measured`);
  t.ok(written.startup.stack.firstMs > 0, "npm start's first start measured");
  // nats-server, the fake upstream, the gateway and the worker were all children of this process.
  t.same(
    children().filter((pid) => !before.includes(pid)),
    [],
    'every process the harness started is gone',
  );
});
