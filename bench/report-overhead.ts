import type { FloorFigure, FloorRow } from './measure/floor.js';
import type { SequentialFigure } from './measure/sequential.js';
import { median } from './load/stats.js';

const LABEL: Record<string, string> = { agentbus: 'agentbus', portkey: 'Portkey' };
const ms = (n: number | null | undefined, digits = 3) =>
  n === null || n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(digits);

/** Figure 8 as markdown: the median overhead over rounds and each round's, per gateway. */
export function sequentialTable(s: SequentialFigure | undefined): string[] {
  if (!s) return [];
  const direct = s.medians['direct'] ?? [];
  return [
    `**8. Sequential overhead** (${s.rounds} round(s) of ${s.requestsPerRound} non-streamed requests ` +
      'one at a time per target, targets in turn; overhead = median latency minus direct’s of the same ' +
      'round, ms)',
    '',
    '| target | overhead (median of rounds) | each round | failed requests |',
    '| --- | --- | --- | --- |',
    `| direct (median latency) | ${ms(median(direct))} | ${direct.map((m) => ms(m)).join(', ')} ` +
      `| ${s.errors['direct'] ?? 0} |`,
    ...Object.entries(s.overhead).map(
      ([name, o]) =>
        `| ${LABEL[name] ?? name} | ${ms(o.medianMs)} | ${o.roundsMs.map((m) => ms(m)).join(', ')} ` +
        `| ${s.errors[name] ?? 0} |`,
    ),
    '',
  ];
}

/** Figure 9 as markdown: the floor's variants, agentbus and Portkey side by side. */
export function floorTable(fl: FloorFigure | undefined): string[] {
  if (!fl) return [];
  const row = (name: string) => {
    const r = fl.rows[name];
    if (!r) return [];
    const cpu = (c: FloorRow['cpuUs']) =>
      !c
        ? '–'
        : name === 'portkey'
          ? `${c.total} (one process)`
          : `${c.total} (${c.gateway} / ${c.worker} / ${c.nats})`;
    return [
      `| ${LABEL[name] ?? name} | ${cpu(r.cpuUs)} | ${ms(r.addedP50Ms)} | ${cpu(r.cpuAtOneUs)} ` +
        `| ${r.requestsPerSecond ?? '–'} |`,
    ];
  };
  const ratio = (a: number | undefined, b: number | undefined) => (a && b ? (a / b).toFixed(2) : '–');
  const ab = fl.rows['agentbus'],
    floor = fl.rows['floor'];
  const againstFloor = (name: string) =>
    `agentbus ÷ ${name}: CPU ${ratio(ab?.cpuUs?.total, fl.rows[name]?.cpuUs?.total)} ` +
    `(at concurrency 1 ${ratio(ab?.cpuAtOneUs?.total, fl.rows[name]?.cpuAtOneUs?.total)}), ` +
    `added p50 ${ratio(ab?.addedP50Ms, fl.rows[name]?.addedP50Ms)}; `;
  return [
    `**9. Floor of the architecture** (${fl.rounds} round(s), targets in turn; CPU per request at ` +
      `concurrency ${fl.cpuConcurrency} over ${fl.cpuRequests} requests, gateway + worker(s) + nats-server ` +
      `from /proc; added p50 at concurrency 1 over ${fl.latencyRequests} requests, and the CPU those ` +
      `requests took, direct p50 ` +
      `${ms(fl.directP50Ms)} ms; medians of rounds)`,
    '',
    '| | CPU per request, µs: total (gateway / worker / nats-server) | added p50 at concurrency 1 (ms) ' +
      '| CPU per request at concurrency 1, µs | req/s at concurrency 32 |',
    '| --- | --- | --- | --- | --- |',
    ...['floor', 'floor+memory', 'floor+delivery', 'agentbus', 'portkey'].flatMap(row),
    '',
    ['floor+delivery', 'floor+memory', 'floor'].map(againstFloor).join('') +
      `Portkey ÷ floor: CPU ${ratio(fl.rows['portkey']?.cpuUs?.total, floor?.cpuUs?.total)} ` +
      `(at concurrency 1 ${ratio(fl.rows['portkey']?.cpuAtOneUs?.total, floor?.cpuAtOneUs?.total)}), ` +
      `added p50 ${ratio(fl.rows['portkey']?.addedP50Ms, floor?.addedP50Ms)}.`,
    '',
    ...sleepsLine(fl),
  ];
}

/**
 * Sleeps per request at concurrency 1 (voluntary context switches, all threads): a process that
 * sleeps and wakes more often per request pays more at concurrency 1 than its CPU at 32 shows.
 */
function sleepsLine(fl: FloorFigure): string[] {
  const rows = ['floor', 'floor+memory', 'floor+delivery', 'agentbus', 'portkey'].flatMap((name) => {
    const s = fl.rows[name]?.sleepsAtOne;
    if (!s) return [];
    const roles = name === 'portkey' ? `${s['gateway']}` : `${s['gateway']} / ${s['worker']} / ${s['nats']}`;
    return [`${LABEL[name] ?? name} ${roles}`];
  });
  if (rows.length === 0) return [];
  return [
    'Sleeps per request at concurrency 1 (voluntary context switches of all threads; gateway / worker / ' +
      `nats-server): ${rows.join('; ')}.`,
    '',
  ];
}
