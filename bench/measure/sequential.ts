import { runClosedLoop } from '../load/closed-loop.js';
import { median, round } from '../load/stats.js';
import type { Target } from '../load/target.js';
import type { BenchOptions } from '../options.js';

/** Figure 8: the sequential-overhead method of public gateway comparisons. */
export interface SequentialFigure {
  rounds: number;
  requestsPerRound: number;
  /** Per target, each round's median latency, ms. */
  medians: Record<string, number[]>;
  /** Per gateway: each round's median minus direct's of the same round, and the median of those, ms. */
  overhead: Record<string, { medianMs: number; roundsMs: number[] }>;
  /** Requests that failed, per target, over all rounds (they are not in the medians). */
  errors: Record<string, number>;
}

/**
 * `rounds` rounds of `requests` non-streamed requests sent one at a time to each target; the
 * targets take turns within a round (direct, agentbus, Portkey, then the next round), so
 * whatever else the machine does drifts over all of them alike. Overhead of a round = the
 * gateway's median latency minus direct's; the figure is the median over rounds.
 */
export async function measureSequentialOverhead(
  targets: Target[],
  options: BenchOptions,
  say: (line: string) => void,
): Promise<SequentialFigure> {
  const medians: Record<string, number[]> = {};
  const errors: Record<string, number> = {};
  for (let r = 0; r < options.sequentialRounds; r++) {
    for (const target of targets) {
      const result = await runClosedLoop(target, {
        concurrency: 1,
        maxRequests: options.sequentialRequests,
        durationMs: 600_000,
        stream: false,
        expectTokens: options.tokens,
      });
      (medians[target.name] ??= []).push(result.latency.p50);
      errors[target.name] = (errors[target.name] ?? 0) + result.errors;
    }
    say(
      `sequential round ${r + 1}: ` +
        targets.map((t) => `${t.name} ${medians[t.name]!.at(-1)!.toFixed(3)} ms`).join(', ') +
        ' (medians)',
    );
  }
  const direct = medians['direct'] ?? [];
  const overhead: SequentialFigure['overhead'] = {};
  for (const [name, list] of Object.entries(medians)) {
    if (name === 'direct') continue;
    const roundsMs = list.map((m, i) => round(m - direct[i]!));
    overhead[name] = { medianMs: round(median(roundsMs)), roundsMs };
  }
  return {
    rounds: options.sequentialRounds,
    requestsPerRound: options.sequentialRequests,
    medians,
    overhead,
    errors,
  };
}
