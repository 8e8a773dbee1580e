import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { ROOT } from '../../scripts/lib/child-process.js';
import { commandDyingWithThisProcess } from '../../scripts/lib/parent-death.js';
import type { BenchProcess } from '../stack.js';
import type { Target } from '../load/target.js';
import { PORTKEY_ENTRY } from './install.js';

/** A free loopback port: Portkey takes `--port=N` and cannot report the one it picked. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts the Portkey gateway under Node (its package's `build/start-server.js`, headless, no
 * UI), pinned to loopback, and resolves once it answers. The returned target forwards to the
 * fake upstream's OpenAI route with `x-portkey-provider: openai` + `x-portkey-custom-host`.
 */
export async function startPortkey(
  upstreamUrl: string,
  fd: number | 'ignore',
): Promise<{ process: BenchProcess; target: Target }> {
  const port = await freePort();
  // Two preloads, neither changing Portkey's files: loopback-only pins its listen() to
  // 127.0.0.1; mutable-fetch-headers lets its stream path add headers (else every streamed
  // request is a 500 "TypeError: immutable"; the file says why).
  const preloads = ['loopback-only.mjs', 'mutable-fetch-headers.mjs'].flatMap((file) => [
    '--import',
    join(ROOT, 'bench/portkey', file),
  ]);
  // Not ours, it has no IPC channel to watch: it goes with the bench however the bench ends.
  const [command, args] = commandDyingWithThisProcess(process.execPath, [
    ...preloads,
    PORTKEY_ENTRY,
    `--port=${port}`,
    '--headless',
  ]);
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: 'production' },
    detached: true,
    stdio: ['ignore', fd, fd],
  });
  const url = `http://127.0.0.1:${port}`;
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  // Bounded: 100 tries of 100 ms.
  for (let i = 0; i < 100 && !exited; i++) {
    const up = await fetch(`${url}/`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) {
      return {
        process: { role: 'portkey', child },
        target: {
          name: 'portkey',
          url,
          path: '/v1/chat/completions',
          model: 'bench',
          headers: {
            authorization: 'Bearer bench',
            'x-portkey-provider': 'openai',
            'x-portkey-custom-host': `${upstreamUrl}/v1`,
          },
        },
      };
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (!exited) child.kill('SIGKILL');
  throw new Error(`the Portkey gateway did not answer on ${url} within 10 s`);
}
