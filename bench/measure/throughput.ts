import { runAutocannon, type ThroughputResult } from '../load/autocannon-run.js';
import { runClosedLoop, type ClosedLoopResult } from '../load/closed-loop.js';
import { median, ratio, round } from '../load/stats.js';
import type { Target } from '../load/target.js';
import type { BenchOptions } from '../options.js';
import type { MoreWorkersThroughput } from './throughput-workers.js';

export interface ThroughputFigure {
  connections: number;
  seconds: number;
  /** Each target's round with the median requests/s. */
  targets: Record<string, ThroughputResult>;
  /** Requests/s of each round, per target, in the order run. */
  rounds: Record<string, number[]>;
  /** Medians over rounds of each round's ratio: targets measured minutes apart never share one. */
  ratios: { agentbusOverDirect: number | null; agentbusOverPortkey: number | null };
  /** agentbus again with more worker processes (bench/measure/throughput-workers.ts). */
  moreWorkers?: MoreWorkersThroughput;
}

/**
 * Figure 3a: requests/s of non-streamed answers at zero upstream delay, autocannon, in rounds
 * of the targets in turn (agentbus and Portkey swap places every other round). A shared machine
 * moves one 5-second point by ±20 %: goal 3's ratio is the median of the rounds' ratios.
 */
export async function measureThroughput(
  targets: Target[],
  options: BenchOptions,
  say: (line: string) => void,
): Promise<ThroughputFigure> {
  const runs: Record<string, ThroughputResult[]> = {};
  for (let pass = 0; pass < options.throughputRounds; pass++) {
    for (const target of pass % 2 === 0 ? targets : [...targets].reverse()) {
      const r = await runAutocannon(target, options.throughputConnections, options.throughputSeconds);
      (runs[target.name] ??= []).push(r);
      say(
        `throughput ${target.name}, round ${pass + 1}: ${r.requestsPerSecond} req/s ` +
          `(${r.non2xx} non-2xx, ${r.errors} errors)`,
      );
    }
  }
  const rounds = Object.fromEntries(
    Object.entries(runs).map(([name, rs]) => [name, rs.map((r) => r.requestsPerSecond)]),
  );
  const medianRound = (rs: ThroughputResult[]) =>
    [...rs].sort((a, b) => a.requestsPerSecond - b.requestsPerSecond)[Math.floor(rs.length / 2)]!;
  const ratioOfRounds = (a: string, b: string) => {
    const each = (rounds[a] ?? []).map((x, i) => ratio(x, rounds[b]?.[i] ?? NaN));
    return each.some((x) => x === null) || each.length === 0 ? null : round(median(each as number[]));
  };
  return {
    connections: options.throughputConnections,
    seconds: options.throughputSeconds,
    targets: Object.fromEntries(Object.entries(runs).map(([name, rs]) => [name, medianRound(rs)])),
    rounds,
    ratios: {
      agentbusOverDirect: ratioOfRounds('agentbus', 'direct'),
      agentbusOverPortkey: ratioOfRounds('agentbus', 'portkey'),
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
