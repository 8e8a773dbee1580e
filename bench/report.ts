import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { FloorFigure } from './measure/floor.js';
import type { LatencyPoint } from './measure/latency.js';
import type { MemoryWritesFigure } from './measure/memory-writes.js';
import type { ScalingFigure } from './measure/scaling.js';
import type { SequentialFigure } from './measure/sequential.js';
import type { StartupResult } from './measure/startup.js';
import type { SessionsFigure } from './measure/sessions.js';
import type { StreamsFigure, ThroughputFigure } from './measure/throughput.js';
import { ENGINE_LABEL, type MemoryEngineName } from './memory/engine-names.js';
import { memoryWritesTable, scalingTable } from './report-memory.js';
import { floorTable, sequentialTable } from './report-overhead.js';

/** Everything one run measured: the JSON result file's shape. */
export interface BenchResult {
  meta: {
    date: string;
    mode: string;
    node: string;
    natsServer: string;
    cpus: number;
    cpuModel: string;
    os: string;
    workers: number;
    /** The memory engines of figures 4 and 5, in run order, each described; the first served figures 1–3. */
    memory: Partial<Record<MemoryEngineName, string>>;
    portkey: string | null;
    portkeySkipped?: string;
    streamSkipped?: Record<string, string>;
  };
  addedLatency: LatencyPoint[];
  ttft: LatencyPoint[];
  throughput: ThroughputFigure;
  streams: StreamsFigure;
  sessions: SessionsFigure;
  scaling: Partial<Record<MemoryEngineName, ScalingFigure>>;
  memoryWrites: Partial<Record<MemoryEngineName, MemoryWritesFigure>>;
  footprint: { idle: Record<string, number>; load: Record<string, number> };
  startup: StartupResult;
  /** Figure 8 (absent in results written before it existed). */
  sequential?: SequentialFigure;
  /** Figure 9. */
  floor?: FloorFigure;
}

export const MARK_START = '<!-- bench:results:start -->';
export const MARK_END = '<!-- bench:results:end -->';

const f = (n: number | null | undefined, digits = 2) =>
  n === null || n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(digits);

function latencyTable(title: string, points: LatencyPoint[], portkey: boolean): string[] {
  const head = portkey
    ? '| concurrency | direct p50 / p99 | agentbus p50 / p99 | Portkey p50 / p99 ' +
      '| added by agentbus p50 / p99 | added by Portkey p50 / p99 ' +
      '| agentbus ÷ direct p50 | agentbus ÷ Portkey p50 |'
    : '| concurrency | direct p50 / p99 | agentbus p50 / p99 | added by agentbus p50 / p99 | agentbus ÷ direct p50 |';
  const rows = points.map((p) => {
    const t = (name: string) => {
      const r = p.targets[name];
      return r ? `${f(r.latency.p50)} / ${f(r.latency.p99)}` : '–';
    };
    const a = (name: string) => {
      const r = p.added[name];
      return r ? `${f(r.p50)} / ${f(r.p99)}` : '–';
    };
    return portkey
      ? `| ${p.concurrency} | ${t('direct')} | ${t('agentbus')} | ${t('portkey')} ` +
          `| ${a('agentbus')} | ${a('portkey')} ` +
          `| ${f(p.ratios.agentbusOverDirect?.p50)} | ${f(p.ratios.agentbusOverPortkey?.p50)} |`
      : `| ${p.concurrency} | ${t('direct')} | ${t('agentbus')} | ${a('agentbus')} ` +
          `| ${f(p.ratios.agentbusOverDirect?.p50)} |`;
  });
  return [`**${title}** (ms)`, '', head, head.replace(/[^|]+/g, ' --- '), ...rows, ''];
}

/** Figure 3a's row for agentbus with more workers; direct and Portkey are not measured again. */
function moreWorkersRow(t: ThroughputFigure, portkey: boolean): string[] {
  const m = t.moreWorkers;
  if (!m) return [];
  const direct = t.targets['direct']?.requestsPerSecond;
  const pk = t.targets['portkey']?.requestsPerSecond;
  const over = (b: number | undefined) => (b ? f(m.requestsPerSecond / b) : '–');
  return [
    `| req/s, ${m.connections} connections, non-streamed, agentbus with ${m.workers} workers ` +
      `| – | ${m.requestsPerSecond} | ` +
      (portkey ? `– | ${over(direct)} | ${over(pk)} |` : `${over(direct)} |`),
  ];
}

/** Figure 3c: the WebSocket twin of the streams table, with what an open session costs the gateway. */
function sessionsTable(s: SessionsFigure): string[] {
  const rss = s.gatewayRss;
  return [
    `| ${s.sessions} WebSocket sessions, one chat each, ${s.tokensPerSession} tokens ${s.tokenDelayMs} ms apart ` +
      '| whole | lost or cut | peak open | gateway RSS per idle / streaming session (KiB) |',
    '| --- | --- | --- | --- | --- |',
    `| agentbus | ${s.result.whole} | ${s.result.lost} | ${s.result.peakOpen} ` +
      `| ${rss.perIdleSessionKb ?? '–'} / ${rss.perStreamingSessionKb ?? '–'} |`,
    '',
  ];
}

/** The result as markdown: the tables BENCHMARKS.md shows. */
export function toMarkdown(r: BenchResult): string {
  const portkey = r.meta.portkey !== null;
  const m = r.meta;
  const lines: string[] = [
    `Run ${m.date} (${m.mode} mode) on ${m.cpus} × ${m.cpuModel}, ${m.os}, Node ${m.node}, ` +
      `nats-server ${m.natsServer}, ${m.workers} worker process(es) with memory on ` +
      `${ENGINE_LABEL[(Object.keys(m.memory)[0] as MemoryEngineName | undefined) ?? 'sqlite']}` +
      `${portkey ? `, Portkey gateway ${m.portkey}` : ''}. ` +
      `Everything — load generator, fake upstream, NATS, gateway, workers${portkey ? ', Portkey' : ''} — ` +
      `on this one machine.${m.portkeySkipped ? ` Portkey skipped: ${m.portkeySkipped}.` : ''}` +
      Object.entries(m.streamSkipped ?? {})
        .map(
          ([name, why]) => ` ${name} is left out of the streamed figures: every stream failed (${why.slice(0, 160)}).`,
        )
        .join(''),
    '',
    ...latencyTable('1. Added latency, non-streamed', r.addedLatency, portkey),
    ...latencyTable('2. Time to first token, streamed', r.ttft, portkey && !m.streamSkipped?.['portkey']),
    '**3. Throughput** (zero upstream delay)',
    '',
    '| | direct | agentbus | ' +
      (portkey ? 'Portkey | agentbus ÷ direct | agentbus ÷ Portkey |' : 'agentbus ÷ direct |'),
    portkey ? '| --- | --- | --- | --- | --- | --- |' : '| --- | --- | --- | --- |',
    `| req/s, ${r.throughput.connections} connections, non-streamed ` +
      `| ${r.throughput.targets['direct']?.requestsPerSecond ?? '–'} ` +
      `| ${r.throughput.targets['agentbus']?.requestsPerSecond ?? '–'} | ` +
      (portkey
        ? `${r.throughput.targets['portkey']?.requestsPerSecond ?? '–'} ` +
          `| ${f(r.throughput.ratios.agentbusOverDirect)} | ${f(r.throughput.ratios.agentbusOverPortkey)} |`
        : `${f(r.throughput.ratios.agentbusOverDirect)} |`),
    ...moreWorkersRow(r.throughput, portkey),
    '',
    ...throughputRoundsLine(r.throughput),
    `| ${r.streams.streams} concurrent SSE streams × ${r.streams.tokensPerStream} tokens, ` +
      `${r.streams.tokenDelayMs} ms apart | whole streams | lost or cut | peak open | tokens/s relayed |`,
    '| --- | --- | --- | --- | --- |',
    ...Object.entries(r.streams.targets).map(
      ([name, s]) => `| ${name} | ${s.ok - s.cut} | ${s.lost} | ${s.peakOpen} | ${s.tokensPerSecond} |`,
    ),
    '',
    ...sessionsTable(r.sessions),
    ...scalingTable(r.scaling),
    ...memoryWritesTable(r.memoryWrites, m.memory),
    '**6. Footprint** (RSS, MiB; one process each)',
    '',
    '| | idle | under load (peak) |',
    '| --- | --- | --- |',
    ...Object.keys({ ...r.footprint.idle, ...r.footprint.load }).map(
      (role) => `| ${role} | ${f(r.footprint.idle[role], 1)} | ${f(r.footprint.load[role], 1)} |`,
    ),
    '',
    ...startupLines(r.startup),
    ...sequentialTable(r.sequential),
    ...floorTable(r.floor),
  ];
  return lines.join('\n');
}

/** Figure 3a's rounds: req/s of each, and the ratio the table shows as their median. */
function throughputRoundsLine(t: ThroughputFigure): string[] {
  const names = Object.keys(t.rounds ?? {});
  if (names.length === 0 || (t.rounds[names[0]!]?.length ?? 0) < 2) return [];
  const label = (name: string) => (name === 'portkey' ? 'Portkey' : name);
  const each = names.map((name) => `${label(name)} ${t.rounds[name]!.join(', ')}`).join('; ');
  const ab = t.rounds['agentbus'] ?? [];
  const pk = t.rounds['portkey'];
  const perRound = pk ? `; agentbus ÷ Portkey ${ab.map((x, i) => f(x / pk[i]!)).join(', ')}` : '';
  return [
    `Figure 3a in ${ab.length} rounds of ${t.seconds} s, the targets in turn (req/s): ${each}${perRound}. ` +
      'The table shows the median round of each target and the median of the rounds’ ratios.',
    '',
  ];
}

function startupLines(s: StartupResult): string[] {
  const row = (what: string, x: StartupResult['gateway'], note: string) =>
    `| ${what} | ${x.medianMs} | ${x.roundsMs.join(', ')} | ${x.cpuMs ?? '–'} | ${note} |`;
  return [
    `**7. Start to ready** (ms; ${s.runtime === 'dist' ? 'compiled JavaScript from dist/, as production' : 'tsx'})`,
    '',
    '| process | median | each start | CPU when ready | until |',
    '| --- | --- | --- | --- | --- |',
    row('gateway (NATS up)', s.gateway, 'it listens'),
    row('worker (NATS up)', s.worker, 'its NATS service answers'),
    row('`npm start` (restart)', s.stack, '"agentbus is running"'),
    `| \`npm start\` (empty DATA_DIR) | ${s.stack.firstMs} | | | bus credentials, setup and migrations first |`,
    '',
  ];
}

/**
 * Writes the JSON result and the markdown next to it (`latest.md`), and, when given, puts the
 * markdown into BENCHMARKS.md between its result markers (the rest of that file is prose).
 */
export function writeReport(result: BenchResult, out: string, benchmarksFile: string | undefined): void {
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  const markdown = toMarkdown(result);
  writeFileSync(out.replace(/\.json$/, '') + '.md', markdown);
  if (!benchmarksFile || !existsSync(benchmarksFile)) return;
  const text = readFileSync(benchmarksFile, 'utf8');
  const start = text.indexOf(MARK_START),
    end = text.indexOf(MARK_END);
  if (start < 0 || end < start) return;
  writeFileSync(benchmarksFile, `${text.slice(0, start + MARK_START.length)}\n${markdown}\n${text.slice(end)}`);
}
