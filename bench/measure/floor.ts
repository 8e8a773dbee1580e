import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { floorDatabase, startFloor, type FloorVariant, type RunningFloor } from '../floor/start.js';
import { runClosedLoop } from '../load/closed-loop.js';
import { warmUp } from '../load/warm-up.js';
import { runWithCpu, type RolePids } from '../load/process-cpu.js';
import { median, round } from '../load/stats.js';
import type { Target } from '../load/target.js';
import type { BenchOptions } from '../options.js';
import { agentbusPids, type BenchStack } from '../stack.js';

/** Concurrency of the CPU-per-request part, as in bench/cpu-per-request.ts and issue 21's goal. */
export const FLOOR_CPU_CONCURRENCY = 32;

/** Gateway, worker, nats-server and their total CPU per request, µs: medians over rounds. */
export type RoleCpuUs = { gateway: number; worker: number; nats: number; total: number };

export interface FloorRow {
  /** CPU per request at {@link FLOOR_CPU_CONCURRENCY} (null: not measured). */
  cpuUs: RoleCpuUs | null;
  /**
   * CPU per request during the p50 runs at concurrency 1 (null: not measured). Each process
   * sleeps between messages there, so every message wakes one: what goal 2's latency stands on.
   */
  cpuAtOneUs: RoleCpuUs | null;
  /** Sleeps per request (voluntary context switches) of each role during those runs: medians over rounds. */
  sleepsAtOne: Record<string, number> | null;
  /** Requests/s during the CPU runs (median over rounds): a by-product, noisy. */
  requestsPerSecond: number | null;
  /** p50 at concurrency 1 minus direct's of the same round, median over rounds, ms. */
  addedP50Ms: number;
  p50Ms: number;
  errors: number;
  /** Answers with fewer tokens than sent (an error body from the floor's worker counts here). */
  cut: number;
}

/** Figure 9: the floor of the architecture beside agentbus and Portkey. */
export interface FloorFigure {
  rounds: number;
  latencyRequests: number;
  cpuRequests: number;
  cpuConcurrency: number;
  directP50Ms: number;
  rows: Record<string, FloorRow>;
  /** floor+delivery's turns at the end: every receipt committed its turn when `pending` is 0. */
  deliveryTurns: { pending: number; committed: number };
}

/** Medians over rounds of each role's CPU per request; null when no round measured it. */
function roleMedians(rounds: Array<Record<string, number>> | undefined): RoleCpuUs | null {
  if (!rounds) return null;
  const of = (role: string) => Math.round(median(rounds.map((c) => c[role] ?? 0)));
  return { gateway: of('gateway'), worker: of('worker'), nats: of('nats'), total: of('total') };
}

/** The median over rounds of each role's figure, to two decimals. */
const medianOfEachRole = (rounds: Array<Record<string, number>>): Record<string, number> =>
  Object.fromEntries(Object.keys(rounds[0]!).map((role) => [role, round(median(rounds.map((r) => r[role]!)))]));

const VARIANTS: readonly FloorVariant[] = ['floor', 'floor+memory', 'floor+delivery'];

/**
 * Turns of floor+delivery still pending once their receipts had time to arrive (up to 5 s), and
 * those committed: every answer's receipt commits its turn, as the variant claims, when `pending`
 * is 0 and `committed` counts them all.
 */
async function floorTurns(file: string): Promise<{ pending: number; committed: number }> {
  const db = new Database(file, { readonly: true });
  try {
    const inState = db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM turns WHERE state = ?');
    const count = (state: string) => inState.get(state)!.n;
    for (let look = 0; look < 50 && count('pending') > 0; look++) await sleep(100);
    return { pending: count('pending'), committed: count('committed') };
  } finally {
    db.close();
  }
}

/**
 * Figure 9. Starts the floor's three variants (bench/floor/) on the stack's nats-server and fake
 * upstream, warms them up, then per round, the targets taking turns: p50 at concurrency 1 of
 * direct, floor, floor+memory, agentbus and Portkey; and CPU per request at concurrency 32 of
 * the floors and agentbus (gateway + worker(s) + nats-server, from /proc) and of Portkey's one
 * process. Medians over rounds.
 * The floors are stopped at the end.
 */
export async function measureFloor(
  stack: BenchStack,
  targets: { direct: Target; agentbus: Target; portkey?: { target: Target; pid: number } | undefined },
  options: BenchOptions,
  say: (line: string) => void,
): Promise<FloorFigure> {
  await stack.setUpstream({ tokens: options.tokens, latencyMs: 0, tokenDelayMs: 0 });
  const floors: RunningFloor[] = [];
  try {
    // Started together: on a loaded machine each start takes seconds. One that fails leaves the
    // other to the stack, which stops every process it adopted.
    floors.push(...(await Promise.all(VARIANTS.map((v) => startFloor(stack, v)))));
    for (const floor of floors) {
      const w = await warmUp(floor.target, options);
      if (w.ok === 0 || w.cut > 0)
        throw new Error(`warm-up: ${floor.variant} answered ${w.ok - w.cut} whole (${w.firstError ?? 'no error'})`);
    }
    const cpuTargets: Array<{ target: Target; pids: () => RolePids }> = [
      ...floors.map((f) => ({ target: f.target, pids: () => f.pids })),
      {
        target: targets.agentbus,
        pids: () => agentbusPids(stack),
      },
      // Portkey is one process: its CPU per request is what goal 3's throughput ratio stands on.
      ...(targets.portkey
        ? [{ target: targets.portkey.target, pids: () => ({ gateway: [targets.portkey!.pid], worker: [], nats: [] }) }]
        : []),
    ];
    const latencyTargets = [targets.direct, ...cpuTargets.map((c) => c.target)];
    const p50: Record<string, number[]> = {};
    const cpu: Record<string, Array<Record<string, number>>> = {};
    const cpuAtOne: Record<string, Array<Record<string, number>>> = {};
    const sleepsAtOne: Record<string, Array<Record<string, number>>> = {};
    const pidsOf = new Map(cpuTargets.map(({ target, pids }) => [target.name, pids]));
    const rps: Record<string, number[]> = {};
    const errors: Record<string, number> = {};
    const cut: Record<string, number> = {};
    const count = (name: string, r: { errors: number; cut: number }) => {
      errors[name] = (errors[name] ?? 0) + r.errors;
      cut[name] = (cut[name] ?? 0) + r.cut;
    };
    for (let r = 0; r < options.floorRounds; r++) {
      for (const target of latencyTargets) {
        const loop = {
          concurrency: 1,
          maxRequests: options.floorLatencyRequests,
          durationMs: 120_000,
          stream: false,
          expectTokens: options.tokens,
        };
        const pids = pidsOf.get(target.name);
        // The direct target is the fake upstream alone: no process of a gateway to read.
        const {
          result,
          cpu: used,
          sleeps,
        } = pids
          ? await runWithCpu(target, pids(), loop)
          : { result: await runClosedLoop(target, loop), cpu: undefined, sleeps: undefined };
        if (used) (cpuAtOne[target.name] ??= []).push(used);
        if (sleeps) (sleepsAtOne[target.name] ??= []).push(sleeps);
        (p50[target.name] ??= []).push(result.latency.p50);
        count(target.name, result);
      }
      for (const { target, pids } of cpuTargets) {
        const { result, cpu: used } = await runWithCpu(target, pids(), {
          concurrency: FLOOR_CPU_CONCURRENCY,
          maxRequests: options.floorCpuRequests,
          durationMs: 120_000,
          stream: false,
          expectTokens: options.tokens,
        });
        (cpu[target.name] ??= []).push(used);
        (rps[target.name] ??= []).push(result.requestsPerSecond);
        count(target.name, result);
      }
      say(
        `floor round ${r + 1}: ` +
          cpuTargets
            .map(({ target: { name } }) => `${name} ${Math.round(cpu[name]!.at(-1)!['total']!)} µs`)
            .join(', ') +
          ' per request; p50 at c=1 ' +
          latencyTargets.map(({ name }) => `${name} ${p50[name]!.at(-1)!.toFixed(3)}`).join(', ') +
          ' ms',
      );
    }
    const turns = await floorTurns(floorDatabase(stack, 'floor+delivery')!);
    // Reported, not thrown: figures 1-3 are measured already, and a cut answer's turn stays pending.
    if (turns.pending > 0) say(`floor+delivery: ${turns.pending} turns never committed (${turns.committed} were)`);
    const direct = p50['direct']!;
    const rows: Record<string, FloorRow> = {};
    for (const target of latencyTargets) {
      if (target.name === 'direct') continue;
      rows[target.name] = {
        cpuUs: roleMedians(cpu[target.name]),
        cpuAtOneUs: roleMedians(cpuAtOne[target.name]),
        sleepsAtOne: sleepsAtOne[target.name] ? medianOfEachRole(sleepsAtOne[target.name]!) : null,
        requestsPerSecond: rps[target.name] ? Math.round(median(rps[target.name]!)) : null,
        addedP50Ms: round(median(p50[target.name]!.map((p, i) => p - direct[i]!))),
        p50Ms: round(median(p50[target.name]!)),
        errors: errors[target.name] ?? 0,
        cut: cut[target.name] ?? 0,
      };
    }
    return {
      rounds: options.floorRounds,
      latencyRequests: options.floorLatencyRequests,
      cpuRequests: options.floorCpuRequests,
      cpuConcurrency: FLOOR_CPU_CONCURRENCY,
      directP50Ms: round(median(direct)),
      rows,
      deliveryTurns: turns,
    };
  } finally {
    for (const floor of floors) await floor.stop();
  }
}
