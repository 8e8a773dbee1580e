import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { readEnv, type EnvReader } from '../common/env.js';
import { ROOT } from '../scripts/lib/child-process.js';
import { MEMORY_ENGINES, type MemoryEngineName } from './memory/engine-names.js';

/** What one `npm run bench` measures and how long; see BENCHMARKS.md, "Options". */
export interface BenchOptions {
  mode: 'full' | 'quick' | 'tiny';
  /** Worker processes for figures 1–3, 5 and 6. */
  workers: number;
  /** Concurrency levels of figures 1 and 2. */
  concurrency: number[];
  /** Per concurrency level and target: at most this long… */
  pointMs: number;
  /** …and at most this many requests. */
  pointRequests: number;
  /** Figure 3: autocannon connections and seconds. */
  throughputConnections: number;
  throughputSeconds: number;
  /** Rounds of figure 3a, the targets in turn in each. */
  throughputRounds: number;
  /** Figure 3: SSE streams open at once, tokens each, ms between tokens. */
  streams: number;
  streamTokens: number;
  streamTokenDelayMs: number;
  /** Figure 4: worker counts, the upstream's fixed latency, seconds per point. */
  scalingWorkers: number[];
  scalingLatencyMs: number;
  scalingSeconds: number;
  /** Memory engines of figures 4 and 5, side by side; the first one also serves figures 1–3. */
  memory: MemoryEngineName[];
  /** Tokens of each answer in figures 1–3. */
  tokens: number;
  warmupRequests: number;
  /** Figure 8: rounds of sequential non-streamed requests per target, and requests per round. */
  sequentialRounds: number;
  sequentialRequests: number;
  /** Figure 9: rounds; requests per round for latency (concurrency 1) and for CPU (concurrency 32). */
  floorRounds: number;
  floorLatencyRequests: number;
  floorCpuRequests: number;
  /** Starts of a gateway and of a worker for the start-to-ready figure (`npm start`: 1 + this many). */
  startupRounds: number;
  portkey: boolean;
  /** Where the JSON result goes; the markdown table is written next to it. */
  out: string;
  /** BENCHMARKS.md to update between its result markers, or undefined. */
  benchmarksFile: string | undefined;
  /** `--profile=<dir>`: CPU profiles of gateway and workers (node --cpu-prof). */
  profileDir: string | undefined;
}

const USAGE = `usage: npm run bench -- [--quick | --tiny] [options]

  --quick               short points (about 2 minutes in all); default is the full run
  --tiny                a few requests per figure, no Portkey, 1 worker (CI smoke)
  --workers=K           worker processes for figures 1-3, 5, 6 (BENCH_WORKERS, default 1)
  --concurrency=1,32,256  levels of figures 1 and 2 (BENCH_CONCURRENCY)
  --duration=S          seconds per point (BENCH_DURATION_S)
  --streams=N           concurrent SSE streams of figure 3 (BENCH_STREAMS, default 1000)
  --scaling=1,2,4       worker counts of figure 4 (BENCH_SCALING)
  --memory=sqlite,postgres  memory engines of figures 4 and 5, side by side (BENCH_MEMORY, default sqlite);
                        postgres starts a private PostgreSQL (installs Debian's postgresql as root)
  --no-portkey          skip the Portkey column (BENCH_PORTKEY=off)
  --out=FILE            JSON result (default bench/results/latest.json)
  --no-markdown         leave BENCHMARKS.md alone
  --profile=DIR         write CPU profiles of the gateway and workers to DIR`;

const list = (value: string | undefined): number[] | undefined =>
  value
    ? value
        .split(',')
        .map((s) => Number(s.trim()))
        .filter((n) => Number.isInteger(n) && n > 0)
    : undefined;

/** `sqlite,postgres` as a list of known engines, each once, in the order given. */
function memoryEngines(value: string | undefined): MemoryEngineName[] {
  const names = (value ?? 'sqlite')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = names.filter((name) => !(MEMORY_ENGINES as readonly string[]).includes(name));
  if (names.length === 0 || unknown.length > 0)
    throw new Error(`--memory / BENCH_MEMORY must list ${MEMORY_ENGINES.join(' and/or ')}, comma-separated`);
  return [...new Set(names as MemoryEngineName[])];
}

/** Flags first, then BENCH_* variables, then the mode's defaults. */
export function readBenchOptions(argv: string[], read: EnvReader = readEnv()): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean' },
      tiny: { type: 'boolean' },
      workers: { type: 'string' },
      concurrency: { type: 'string' },
      duration: { type: 'string' },
      streams: { type: 'string' },
      scaling: { type: 'string' },
      memory: { type: 'string' },
      'no-portkey': { type: 'boolean' },
      out: { type: 'string' },
      'no-markdown': { type: 'boolean' },
      profile: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const mode = values.tiny ? 'tiny' : values.quick ? 'quick' : 'full';
  const seconds = Number(
    values.duration ??
      read.optionalString('BENCH_DURATION_S', {
        doc: 'seconds per measured point (`--duration`)',
        shownDefault: '`5`; `--quick`: `1.5`; `--tiny`: `0.5`',
      }) ??
      (mode === 'full' ? 5 : mode === 'quick' ? 1.5 : 0.5),
  );
  if (!(seconds > 0)) throw new Error('--duration / BENCH_DURATION_S must be a positive number of seconds');
  const workers = Number(
    values.workers ??
      read.optionalString('BENCH_WORKERS', {
        doc: 'worker processes for figures 1-3, 5 and 6, 1 to 16 (`--workers`)',
        shownDefault: '`1`',
      }) ??
      1,
  );
  if (!Number.isInteger(workers) || workers < 1 || workers > 16)
    throw new Error('--workers / BENCH_WORKERS must be an integer from 1 to 16');
  const tiny = mode === 'tiny';
  const out = values.out ?? join(ROOT, 'bench/results/latest.json');
  return {
    mode,
    workers,
    concurrency:
      list(
        values.concurrency ??
          read.optionalString('BENCH_CONCURRENCY', {
            doc: 'concurrency levels of figures 1 and 2, comma-separated (`--concurrency`)',
            shownDefault: '`1,32,256`; `--tiny`: `1,4`',
          }),
      ) ?? (tiny ? [1, 4] : [1, 32, 256]),
    pointMs: seconds * 1000,
    pointRequests: tiny ? 8 : 50_000,
    throughputConnections: tiny ? 4 : 64,
    throughputSeconds: Math.max(1, Math.round(seconds)),
    throughputRounds: tiny ? 1 : mode === 'quick' ? 2 : 3,
    streams: Number(
      values.streams ??
        read.optionalString('BENCH_STREAMS', {
          doc: 'concurrent SSE streams of figure 3 (`--streams`)',
          shownDefault: '`1000`; `--tiny`: `10`',
        }) ??
        (tiny ? 10 : 1000),
    ),
    streamTokens: tiny ? 5 : 40,
    streamTokenDelayMs: tiny ? 5 : 100,
    scalingWorkers:
      list(
        values.scaling ??
          read.optionalString('BENCH_SCALING', {
            doc: 'worker counts of figure 4, comma-separated (`--scaling`)',
            shownDefault: '`1,2,4`; `--tiny`: `1`',
          }),
      ) ?? (tiny ? [1] : [1, 2, 4]),
    memory: memoryEngines(
      values.memory ??
        read.optionalString('BENCH_MEMORY', {
          doc: 'memory engines of figures 4 and 5, comma-separated: `sqlite`, `postgres` (`--memory`)',
          shownDefault: '`sqlite`',
        }),
    ),
    scalingLatencyMs: 50,
    scalingSeconds: Math.max(1, Math.round(seconds)),
    tokens: 16,
    warmupRequests: tiny ? 4 : 300,
    startupRounds: tiny ? 1 : mode === 'quick' ? 3 : 5,
    sequentialRounds: tiny ? 1 : mode === 'quick' ? 3 : 5,
    sequentialRequests: tiny ? 20 : mode === 'quick' ? 300 : 1000,
    floorRounds: tiny ? 1 : mode === 'quick' ? 2 : 3,
    floorLatencyRequests: tiny ? 20 : mode === 'quick' ? 300 : 1000,
    floorCpuRequests: tiny ? 64 : mode === 'quick' ? 1500 : 3000,
    portkey:
      !tiny &&
      !values['no-portkey'] &&
      read.optionalString('BENCH_PORTKEY', {
        doc: '`off` skips the Portkey column (`--no-portkey`)',
        shownDefault: '`on`',
      }) !== 'off',
    out,
    benchmarksFile: tiny || values['no-markdown'] ? undefined : join(ROOT, 'BENCHMARKS.md'),
    profileDir: values.profile,
  };
}
