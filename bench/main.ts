import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { cpus, platform, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { COMPILED } from '../common/package-root.js';
import { findNatsServer } from '../scripts/lib/nats-server.js';
import { warmUp } from './load/warm-up.js';
import { agentbusTarget, type Target } from './load/target.js';
import { measureFloor } from './measure/floor.js';
import { RssSampler, rssMb } from './measure/footprint.js';
import { measureLatency } from './measure/latency.js';
import { measureMemoryWrites } from './measure/memory-writes.js';
import { measureScaling } from './measure/scaling.js';
import { measureSequentialOverhead } from './measure/sequential.js';
import { measureWebSocketSessions } from './measure/sessions.js';
import { measureStartup, stopTimedStacks } from './measure/startup.js';
import { measureStreams, measureThroughput } from './measure/throughput.js';
import { measureMoreWorkersThroughput } from './measure/throughput-workers.js';
import { sqliteEngine, startPostgresEngine, type MemoryEngine } from './memory/engine.js';
import { readBenchOptions } from './options.js';
import { installPortkey, portkeyInstalled, PORTKEY_ENTRY } from './portkey/install.js';
import { startPortkey } from './portkey/start.js';
import { writeReport, type BenchResult } from './report.js';
import { startBenchStack, type BenchStack } from './stack.js';
import { stopOnSignal } from './stop-on-signal.js';

const say = (line: string) => process.stdout.write(`[bench] ${line}\n`);

function natsServerVersion(): string {
  const binary = findNatsServer();
  if (!binary) return 'unknown';
  try {
    return execFileSync(binary, ['--version'], { encoding: 'utf8' })
      .trim()
      .replace(/^nats-server:\s*/, '');
  } catch {
    return 'unknown';
  }
}

/** Portkey installed (on first use) or the reason the column is skipped. */
function preparePortkey(wanted: boolean): { ok: boolean; why?: string } {
  if (!wanted) return { ok: false, why: 'not asked for (--no-portkey, BENCH_PORTKEY=off or --tiny)' };
  if (portkeyInstalled()) return { ok: true };
  try {
    installPortkey(say);
    return { ok: true };
  } catch (err) {
    return { ok: false, why: `could not install it (${(err as Error).message}); try npm run bench:install-portkey` };
  }
}

/** `npm run bench`: starts everything, measures figures 1–9, writes the result, stops everything. */
export async function runBench(argv: string[]): Promise<BenchResult> {
  const options = readBenchOptions(argv);
  const portkey = preparePortkey(options.portkey);
  if (!portkey.ok && options.portkey) say(`Portkey column skipped: ${portkey.why}`);
  say(
    `${options.mode} run: ${options.workers} worker(s), concurrency ${options.concurrency.join('/')}, ` +
      `${options.streams} streams, scaling ${options.scalingWorkers.join('/')}, memory ${options.memory.join('/')}`,
  );

  let stack: BenchStack | undefined;
  let postgres: MemoryEngine | undefined;
  let portkeyFd: number | undefined;
  const stopHandlingSignals = stopOnSignal(async () => {
    await stopTimedStacks();
    await stack?.stop();
    await postgres?.close();
  }, say);
  try {
    // Started before the stack: when it comes first, figures 1-3 run with the workers' memory on it.
    if (options.memory.includes('postgres')) postgres = await startPostgresEngine(say);
    const firstWorkerEnv = options.memory[0] === 'postgres' ? { ...postgres!.workerEnv } : {};
    stack = await startBenchStack({
      workers: options.workers,
      profileDir: options.profileDir,
      workerEnv: firstWorkerEnv,
    });
    const engines = options.memory.map((name) => (name === 'postgres' ? postgres! : sqliteEngine(stack!.dataDir)));
    const direct: Target = {
      name: 'direct',
      url: stack.upstreamUrl,
      path: '/v1/chat/completions',
      headers: {},
      model: 'bench',
    };
    const agentbus = agentbusTarget(stack.gatewayUrl);
    const targets: Target[] = [direct, agentbus];
    let portkeyPid: number | undefined;
    let portkeyVersion: string | null = null;
    if (portkey.ok) {
      portkeyFd = openSync(join(tmpdir(), `agentbus-bench-portkey-${process.pid}.out`), 'w');
      const started = await startPortkey(stack.upstreamUrl, portkeyFd);
      stack.adopt(started.process);
      targets.push(started.target);
      portkeyPid = started.process.child.pid;
      portkeyVersion = JSON.parse(readFileSync(join(PORTKEY_ENTRY, '../../package.json'), 'utf8')).version;
    }
    await stack.setUpstream({ tokens: options.tokens, latencyMs: 0, tokenDelayMs: 0 });
    // A peer that cannot stream here is left out of the streamed figures, with the reason.
    const streamSkipped: Record<string, string> = {};
    for (const target of targets) {
      for (const stream of [false, true]) {
        const w = await warmUp(target, options, stream);
        if (w.ok > 0) continue;
        if (!stream || target.name !== 'portkey')
          throw new Error(`warm-up: ${target.name} answered nothing (${w.firstError ?? 'no error'})`);
        streamSkipped[target.name] = w.firstError ?? 'no streamed answer';
        say(`${target.name} left out of the streamed figures: ${streamSkipped[target.name]}`);
      }
    }
    const streamTargets = targets.filter((t) => !streamSkipped[t.name]);
    say('warmed up');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const pids = () => ({ gateway: [stack!.gateway.child.pid], worker: stack!.workers.map((w) => w.child.pid) });
    const idle = {
      gateway: rssMb(stack.gateway.child.pid),
      worker: Math.max(...stack.workers.map((w) => rssMb(w.child.pid))),
    };

    const sequential = await measureSequentialOverhead(targets, options, say);
    const addedLatency = await measureLatency(targets, options, false, say);
    const ttft = await measureLatency(streamTargets, options, true, say);
    const sampler = new RssSampler(pids).start();
    const throughput = await measureThroughput(targets, options, say);
    await stack.setUpstream({ tokens: options.streamTokens, latencyMs: 0, tokenDelayMs: options.streamTokenDelayMs });
    const streams = await measureStreams(
      streamTargets.filter((t) => t.name !== 'direct'),
      options,
      say,
    );
    const sessions = await measureWebSocketSessions(agentbus, stack.gateway.child.pid, options, say);
    const load = sampler.stop();
    // Figure 9 with the workers of figures 1-3; then figure 3's 2-worker row, whose workers
    // figures 4 and 5 replace with their own.
    const floor = await measureFloor(
      stack,
      {
        direct,
        agentbus,
        portkey:
          portkeyPid === undefined
            ? undefined
            : { target: targets.find((t) => t.name === 'portkey')!, pid: portkeyPid },
      },
      options,
      say,
    );
    throughput.moreWorkers = await measureMoreWorkersThroughput(stack, agentbus, firstWorkerEnv, options, say);
    // Figures 4 and 5 once per memory engine, side by side; the delivery contract is always on.
    const memoryWrites: BenchResult['memoryWrites'] = {};
    const scaling: BenchResult['scaling'] = {};
    for (const engine of engines) {
      memoryWrites[engine.name] = await measureMemoryWrites(stack, agentbus, engine, options, say);
      scaling[engine.name] = await measureScaling(stack, agentbus, engine, options, say);
    }
    // Last, with no load running: the processes it starts join this stack's NATS for a moment.
    const startup = await measureStartup(
      { ...process.env, ...stack.env },
      options.startupRounds,
      COMPILED ? 'dist' : 'tsx',
      say,
    );

    const cpu = cpus();
    const result: BenchResult = {
      meta: {
        date: new Date().toISOString(),
        mode: options.mode,
        node: process.version,
        natsServer: natsServerVersion(),
        cpus: cpu.length,
        cpuModel: cpu[0]?.model.trim() ?? 'unknown',
        os: `${platform()} ${release()}`,
        workers: options.workers,
        memory: Object.fromEntries(engines.map((e) => [e.name, e.description])),
        portkey: portkeyVersion,
        ...(portkey.ok ? {} : { portkeySkipped: portkey.why }),
        ...(Object.keys(streamSkipped).length ? { streamSkipped } : {}),
      },
      addedLatency,
      ttft,
      throughput,
      streams,
      sessions,
      scaling,
      memoryWrites,
      footprint: { idle, load },
      startup,
      sequential,
      floor,
    };
    writeReport(result, options.out, options.benchmarksFile);
    say(`wrote ${options.out}${options.benchmarksFile ? ` and ${options.benchmarksFile}` : ''}`);
    return result;
  } finally {
    stopHandlingSignals();
    await stack?.stop();
    await postgres?.close();
    if (portkeyFd !== undefined) closeSync(portkeyFd);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runBench(process.argv.slice(2)).then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`[bench] failed: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
