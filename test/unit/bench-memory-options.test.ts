import t from 'tap';
import { readEnv } from '../../common/env.js';
import type { MemoryWritesFigure } from '../../bench/measure/memory-writes.js';
import type { ScalingFigure } from '../../bench/measure/scaling.js';
import { readBenchOptions } from '../../bench/options.js';
import { memoryWritesTable, scalingTable } from '../../bench/report-memory.js';

// `--memory` / BENCH_MEMORY, and the side-by-side tables of figures 4 and 5 it leads to.
const memoryOf = (argv: string[], env: NodeJS.ProcessEnv = {}) => readBenchOptions(argv, readEnv(env)).memory;

t.test('--memory picks the engines of figures 4 and 5, SQLite by default', async (t) => {
  t.same(memoryOf([]), ['sqlite']);
  t.same(memoryOf(['--tiny']), ['sqlite']);
  t.same(memoryOf(['--memory=sqlite,postgres']), ['sqlite', 'postgres']);
  t.same(memoryOf(['--memory', 'postgres, sqlite,postgres']), ['postgres', 'sqlite'], 'each once, in order');
  t.same(memoryOf([], { BENCH_MEMORY: 'postgres' }), ['postgres']);
  t.same(memoryOf(['--memory=sqlite'], { BENCH_MEMORY: 'postgres' }), ['sqlite'], 'the flag before the variable');
  for (const bad of ['mysql', 'sqlite,mongo', ',']) {
    t.throws(() => memoryOf([`--memory=${bad}`]), /--memory \/ BENCH_MEMORY must list sqlite and\/or postgres/, bad);
  }
});

const point = (workers: number, rps: number) => ({
  workers,
  requestsPerSecond: rps,
  non2xx: 0,
  errors: 0,
  perWorker: Math.round(rps / workers),
  turnsPerSecond: rps,
});
const scaling = (rps: number[], efficiency: number): ScalingFigure => ({
  upstreamLatencyMs: 50,
  maxInflightPerWorker: 4,
  connections: 32,
  points: rps.map((r, i) => point(2 ** i, r)),
  efficiency,
});
const writes = (turns: number): MemoryWritesFigure => ({
  turns,
  seconds: 5,
  workers: 1,
  connections: 64,
  turnsPerSecondPerWorker: turns / 5,
  requestsPerSecondPerWorker: turns / 5,
  non2xx: 0,
  errors: 0,
  workerCpuUsPerTurn: 300,
  serverCpuUsPerTurn: turns > 10_000 ? 0 : 120,
});

t.test('figure 4 puts each measure of the two engines side by side, per worker count', async (t) => {
  const lines = scalingTable({ sqlite: scaling([77, 144, 293], 0.95), postgres: scaling([70, 130, 250], 0.89) });
  const table = lines.filter((l) => l.startsWith('|'));
  t.equal(
    table[0],
    '| workers | req/s SQLite | req/s PostgreSQL | req/s per worker SQLite | req/s per worker PostgreSQL ' +
      '| turns/s SQLite | turns/s PostgreSQL |',
  );
  t.equal(table[2], '| 1 | 77 | 70 | 77 | 70 | 77 | 70 |');
  t.equal(table[4], '| 4 | 293 | 250 | 73 | 63 | 293 | 250 |');
  t.ok(lines.includes('Efficiency at 4 workers: SQLite 0.95, PostgreSQL 0.89 (1.00 = linear).'));
});

t.test('figure 5 has one row per engine and says what each engine was', async (t) => {
  const lines = memoryWritesTable(
    { sqlite: writes(12_500), postgres: writes(6_000) },
    { sqlite: 'SQLite WAL', postgres: 'PostgreSQL 15' },
  );
  t.ok(lines.includes('| SQLite | 2500 | 2500 | 12500 | 5 | 0 | 300 | 0 |'));
  t.ok(lines.includes('| PostgreSQL | 1200 | 1200 | 6000 | 5 | 0 | 300 | 120 |'));
  t.ok(lines.includes('SQLite: SQLite WAL. PostgreSQL: PostgreSQL 15.'));
  t.same(memoryWritesTable({}, {}), [], 'nothing measured, nothing written');
});
