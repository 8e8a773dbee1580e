import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startChild, stopChild } from '../../scripts/lib/child-process.js';
import type { RolePids } from '../load/process-cpu.js';
import type { Target } from '../load/target.js';
import type { BenchStack } from '../stack.js';

/**
 * `floor`: gateway and worker alone; `floor+memory`: the worker also writes one SQLite row per
 * request; `floor+delivery`: that row pending, committed by the gateway's receipt after the answer.
 */
export type FloorVariant = 'floor' | 'floor+memory' | 'floor+delivery';

/** A variant's name in subjects, file names and output files: `floor-memory` for `floor+memory`. */
const nameOf = (variant: FloorVariant) => variant.replace('+', '-');

/** The floor's SQLite file of a variant that keeps turns, in the stack's data directory. */
export const floorDatabase = (stack: BenchStack, variant: FloorVariant): string | undefined =>
  variant === 'floor' ? undefined : join(stack.dataDir, `${nameOf(variant)}.sqlite`);

export interface RunningFloor {
  variant: FloorVariant;
  target: Target;
  pids: RolePids;
  stop(): Promise<void>;
}

/**
 * Starts the floor's gateway and worker (bench/floor/) on the stack's nats-server and fake
 * upstream, on a subject of the variant's own, so two variants can run side by side.
 */
export async function startFloor(stack: BenchStack, variant: FloorVariant): Promise<RunningFloor> {
  const name = nameOf(variant);
  mkdirSync(stack.dataDir, { recursive: true });
  const db = floorDatabase(stack, variant);
  const env = {
    ...process.env,
    NATS_URL: stack.natsUrl,
    OLLAMA_URL: stack.upstreamUrl,
    FLOOR_SUBJECT: `bench.${name}.chat`,
    ...(db ? { FLOOR_DB: db } : {}),
    ...(variant === 'floor+delivery' ? { FLOOR_DELIVERY: '1' } : {}),
  };
  // Both at once (the gateway needs no worker to start); each is stopped with the stack too.
  const start = async (role: 'worker' | 'gateway') => {
    const started = await startChild(`bench/floor/${role}.ts`, [], env, {
      output: stack.outFile(`${name}-${role}`),
      timeoutMs: 60_000,
    });
    stack.adopt({ role: 'floor', child: started.child });
    return started;
  };
  const [worker, gateway] = await Promise.all([start('worker'), start('gateway')]);
  return {
    variant,
    target: {
      name: variant,
      url: String(gateway.ready['url']),
      path: '/v1/chat/completions',
      headers: {},
      model: 'bench',
    },
    pids: { gateway: [gateway.child.pid!], worker: [worker.child.pid!], nats: [stack.natsPid] },
    async stop() {
      await stopChild(gateway.child, 10_000);
      await stopChild(worker.child, 10_000);
    },
  };
}
