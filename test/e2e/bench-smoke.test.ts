import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import t from 'tap';
import { runBench } from '../../bench/main.js';
import type { FloorRow } from '../../bench/measure/floor.js';
import { rssMb } from '../../bench/measure/footprint.js';

// A smoke of the benchmark harness, never a timing assertion: it starts its own nats-server,
// fake upstream, gateway, one worker and a private PostgreSQL, measures a few requests per
// figure, writes its files and stops every process it started. One run covers both memory
// engines: figures 1-3 with memory on PostgreSQL (the first named), figures 4 and 5 on each.
// Some 15 processes start under tsx (the floor's among them): on a loaded 2-core machine that
// alone comes near tap's 120 s default, which would cut the run before it stops them.
t.setTimeout(240_000);

/** Live child processes of this test process (tsx's esbuild service among them). */
function children(): number[] {
  const out = execFileSync('ps', ['-o', 'pid=', '--ppid', String(process.pid)], { encoding: 'utf8' });
  // `ps` itself has exited by the time its output is read: only live processes have an RSS.
  return out
    .split('\n')
    .map((s) => Number(s.trim()))
    .filter((pid) => pid > 0 && rssMb(pid) > 0);
}

t.test('npm run bench -- --tiny --memory=postgres,sqlite measures every figure, then stops everything', async (t) => {
  const before = children();
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-bench-smoke-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'result.json');
  const result = await runBench(['--tiny', '--memory=postgres,sqlite', `--out=${out}`]);

  t.ok(existsSync(out), 'the JSON result is written');
  t.ok(existsSync(join(dir, 'result.md')), 'the markdown table is written next to it');
  const written = JSON.parse(readFileSync(out, 'utf8'));
  t.same(Object.keys(written).sort(), [
    'addedLatency',
    'floor',
    'footprint',
    'memoryWrites',
    'meta',
    'scaling',
    'sequential',
    'sessions',
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
  t.same(written.throughput.rounds.agentbus.length, 1, 'one throughput round in tiny mode');
  t.equal(written.throughput.moreWorkers.workers, 2);
  t.ok(written.throughput.moreWorkers.requestsPerSecond > 0, 'throughput with 2 workers measured');
  t.same(written.sequential.overhead.agentbus.roundsMs.length, 1, 'one sequential round in tiny mode');
  t.type(written.sequential.overhead.agentbus.medianMs, 'number');
  t.equal(written.sequential.errors.agentbus, 0, 'no sequential request failed');
  t.same(Object.keys(written.floor.rows), ['floor', 'floor+memory', 'floor+delivery', 'agentbus']);
  t.equal(written.floor.deliveryTurns.pending, 0, 'every floor+delivery turn committed by its receipt');
  t.ok(written.floor.deliveryTurns.committed > 0, 'floor+delivery committed turns');
  for (const [name, row] of Object.entries<FloorRow>(written.floor.rows)) {
    t.equal(row.errors + row.cut, 0, `every ${name} answer whole`);
    // A few dozen requests may fit in one 10 ms /proc tick: read, not necessarily above 0.
    t.ok(Number.isFinite(row.cpuUs!.total), `${name}'s CPU per request read from /proc`);
    t.ok(Number.isFinite(row.cpuAtOneUs!.total), `${name}'s CPU per request at concurrency 1 read from /proc`);
    t.ok(Number.isFinite(row.sleepsAtOne!['gateway']), `${name}'s sleeps per request read from /proc`);
    t.type(row.addedP50Ms, 'number');
  }
  t.equal(written.streams.targets.agentbus.lost, 0, 'no stream lost or cut');
  t.equal(written.sessions.result.lost, 0, 'no WebSocket session lost or cut');
  t.equal(written.sessions.result.whole, written.sessions.sessions, 'every WebSocket session whole');
  t.same(Object.keys(written.meta.memory), ['postgres', 'sqlite'], 'both engines, in the order named');
  for (const engine of ['postgres', 'sqlite']) {
    const writes = written.memoryWrites[engine];
    t.ok(writes.turnsPerSecondPerWorker > 0, `turns/s per worker reported for ${engine}`);
    t.equal(writes.non2xx + writes.errors, 0, `every request answered with memory on ${engine}`);
    t.ok(writes.workerCpuUsPerTurn > 0, `the workers' CPU per turn read from /proc for ${engine}`);
    t.equal(written.scaling[engine].points.length, 1);
    t.ok(written.scaling[engine].points[0].turnsPerSecond > 0, `scaling counted ${engine}'s committed turns`);
  }
  const markdown = readFileSync(join(dir, 'result.md'), 'utf8');
  t.match(markdown, /\| req\/s PostgreSQL \| req\/s SQLite \|/);
  t.match(markdown, /\*\*8\. Sequential overhead\*\*/);
  t.match(markdown, /\*\*9\. Floor of the architecture\*\*/);
  t.match(markdown, /agentbus with 2 workers/);
  t.ok(written.footprint.idle.gateway > 0 && written.footprint.load.worker > 0, 'RSS read from /proc');
  t.equal(result.meta.workers, 1);
  for (const role of ['gateway', 'worker', 'stack'] as const)
    t.ok(written.startup[role].medianMs > 0, `start to ready of ${role} measured`);
  t.ok(written.startup.stack.firstMs > 0, "npm start's first start measured");
  // nats-server, the fake upstream, the gateway, the worker, PostgreSQL and its watchdog were all
  // children of this process.
  t.same(
    children().filter((pid) => !before.includes(pid)),
    [],
    'every process the harness started is gone',
  );
});
