import type { MemoryWritesFigure } from './measure/memory-writes.js';
import type { ScalingFigure } from './measure/scaling.js';
import { ENGINE_LABEL, type MemoryEngineName } from './memory/engine-names.js';

type PerEngine<T> = Partial<Record<MemoryEngineName, T>>;

const f = (n: number | null | undefined) => (n === null || n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(2));

/** Figure 4 as markdown: one column per memory engine for each measure, side by side. */
export function scalingTable(scaling: PerEngine<ScalingFigure>): string[] {
  const engines = Object.keys(scaling) as MemoryEngineName[];
  const first = scaling[engines[0]!];
  if (!first) return [];
  const cols = (measure: string) => engines.map((e) => ` ${measure} ${ENGINE_LABEL[e]} |`).join('');
  const head = `| workers |${cols('req/s')}${cols('req/s per worker')}${cols('turns/s')}`;
  const rows = first.points.map((point, i) => {
    const cell = (pick: (p: ScalingFigure['points'][number]) => number) =>
      engines.map((e) => ` ${scaling[e]?.points[i] ? pick(scaling[e].points[i]) : '–'} |`).join('');
    const measures = [cell((p) => p.requestsPerSecond), cell((p) => p.perWorker), cell((p) => p.turnsPerSecond)];
    return `| ${point.workers} |${measures.join('')}`;
  });
  const efficiency = engines.map((e) => `${ENGINE_LABEL[e]} ${f(scaling[e]?.efficiency)}`).join(', ');
  return [
    `**4. Scaling** (upstream latency ${first.upstreamLatencyMs} ms, ` +
      `MAX_INFLIGHT=${first.maxInflightPerWorker} per worker, ${first.connections} connections; ` +
      'memory on each engine in turn, turns/s = turns committed)',
    '',
    head,
    head.replace(/[^|]+/g, ' --- '),
    ...rows,
    '',
    `Efficiency at ${first.points.at(-1)?.workers ?? '–'} workers: ${efficiency} (1.00 = linear).`,
    '',
  ];
}

/** Figure 5 as markdown: one row per memory engine, with what each engine was. */
export function memoryWritesTable(writes: PerEngine<MemoryWritesFigure>, described: PerEngine<string>): string[] {
  const engines = Object.keys(writes) as MemoryEngineName[];
  const first = writes[engines[0]!];
  if (!first) return [];
  return [
    `**5. Memory write rate** (zero upstream delay, ${first.connections} connections, ` +
      `${first.workers} worker(s); a turn counts once committed, after the client got its whole answer)`,
    '',
    '| memory | turns/s per worker | req/s per worker | turns | seconds | non-2xx ' +
      '| worker CPU per turn (µs) | database server CPU per turn (µs) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...engines.map((e) => {
      const w = writes[e]!;
      return (
        `| ${ENGINE_LABEL[e]} | ${w.turnsPerSecondPerWorker} | ${w.requestsPerSecondPerWorker} ` +
        `| ${w.turns} | ${w.seconds} | ${w.non2xx + w.errors} ` +
        `| ${w.workerCpuUsPerTurn ?? '–'} | ${w.serverCpuUsPerTurn ?? '–'} |`
      );
    }),
    '',
    engines.map((e) => `${ENGINE_LABEL[e]}: ${described[e] ?? '–'}.`).join(' '),
    '',
  ];
}
