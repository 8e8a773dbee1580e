import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startChild, stopChild } from '../../scripts/lib/child-process.js';
import type { RolePids } from '../load/process-cpu.js';
import type { Target } from '../load/target.js';
import type { BenchStack } from '../stack.js';

/** `floor`: gateway and worker alone; `floor+memory`: the worker also writes one SQLite row per request. */
export type FloorVariant = 'floor' | 'floor+memory';

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
  const name = variant === 'floor' ? 'floor' : 'floor-memory';
  mkdirSync(stack.dataDir, { recursive: true });
  const env = {
    ...process.env,
    NATS_URL: stack.natsUrl,
    OLLAMA_URL: stack.upstreamUrl,
    FLOOR_SUBJECT: `bench.${name}.chat`,
    ...(variant === 'floor+memory' ? { FLOOR_DB: join(stack.dataDir, `${name}.sqlite`) } : {}),
  };
  const worker = await startChild('bench/floor/worker.ts', [], env, {
    output: stack.outFile(`${name}-worker`),
    timeoutMs: 60_000,
  });
  stack.adopt({ role: 'floor', child: worker.child });
  const gateway = await startChild('bench/floor/gateway.ts', [], env, {
    output: stack.outFile(`${name}-gateway`),
    timeoutMs: 60_000,
  });
  stack.adopt({ role: 'floor', child: gateway.child });
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
