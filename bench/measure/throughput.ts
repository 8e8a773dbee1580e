import { runAutocannon, type ThroughputResult } from '../load/autocannon-run.js';
import { runClosedLoop, type ClosedLoopResult } from '../load/closed-loop.js';
import { ratio } from '../load/stats.js';
import type { Target } from '../load/target.js';
import type { BenchOptions } from '../options.js';
import type { MoreWorkersThroughput } from './throughput-workers.js';

export interface ThroughputFigure {
  connections: number;
  seconds: number;
  targets: Record<string, ThroughputResult>;
  ratios: { agentbusOverDirect: number | null; agentbusOverPortkey: number | null };
  /** agentbus again with more worker processes (bench/measure/throughput-workers.ts). */
  moreWorkers?: MoreWorkersThroughput;
}

/** Figure 3a: requests/s of non-streamed answers at zero upstream delay, autocannon. */
export async function measureThroughput(
  targets: Target[],
  options: BenchOptions,
  say: (line: string) => void,
): Promise<ThroughputFigure> {
  const results: Record<string, ThroughputResult> = {};
  for (const target of targets) {
    results[target.name] = await runAutocannon(target, options.throughputConnections, options.throughputSeconds);
    const r = results[target.name]!;
    say(`throughput ${target.name}: ${r.requestsPerSecond} req/s (${r.non2xx} non-2xx, ${r.errors} errors)`);
  }
  const rps = (name: string) => results[name]?.requestsPerSecond ?? NaN;
  return {
    connections: options.throughputConnections,
    seconds: options.throughputSeconds,
    targets: results,
    ratios: {
      agentbusOverDirect: ratio(rps('agentbus'), rps('direct')),
      agentbusOverPortkey: ratio(rps('agentbus'), rps('portkey')),
    },
  };
}

export interface StreamsFigure {
  streams: number;
  tokensPerStream: number;
  tokenDelayMs: number;
  /** Per target: whole streams (`ok` minus `cut`), cut or failed ones, peak open, tokens/s relayed. */
  targets: Record<string, ClosedLoopResult & { lost: number }>;
}

/**
 * Figure 3b: `streams` SSE streams opened at once (one client each, one request each), every
 * one checked for all its tokens and its `[DONE]`.
 */
export async function measureStreams(
  targets: Target[],
  options: BenchOptions,
  say: (line: string) => void,
): Promise<StreamsFigure> {
  const results: StreamsFigure['targets'] = {};
  const durationMs = 60_000 + options.streams * 20;
  for (const target of targets) {
    const r = await runClosedLoop(target, {
      concurrency: options.streams,
      maxRequests: options.streams,
      durationMs,
      stream: true,
      expectTokens: options.streamTokens,
    });
    results[target.name] = { ...r, lost: options.streams - (r.ok - r.cut) };
    say(
      `streams ${target.name}: ${r.ok - r.cut}/${options.streams} whole, peak ${r.peakOpen} open, ` +
        `${r.tokensPerSecond} tokens/s${r.firstError ? ` (first error: ${r.firstError})` : ''}`,
    );
  }
  return {
    streams: options.streams,
    tokensPerStream: options.streamTokens,
    tokenDelayMs: options.streamTokenDelayMs,
    targets: results,
  };
}

export type { ClosedLoopResult };
