import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findNatsServer, startNatsServer, type RunningNatsServer } from '../../scripts/lib/nats-server.js';

/**
 * A nats-server of the test's own on a random loopback port, with JetStream in a temp dir.
 * Never the machine's server on 4222. `env` is the server's environment (the bus passwords
 * the repo's nats.conf reads).
 */
export async function startTestNats(
  configFile?: string,
  env?: NodeJS.ProcessEnv,
): Promise<RunningNatsServer & { dispose(): Promise<void> }> {
  const binary = findNatsServer();
  if (!binary)
    throw new Error('nats-server is not installed; run "apt-get install nats-server" (or see README, Troubleshooting)');
  const storeDir = mkdtempSync(join(tmpdir(), 'agentbus-nats-'));
  const server = await startNatsServer({
    binary,
    port: -1,
    storeDir,
    ...(configFile ? { configFile } : {}),
    ...(env ? { env } : {}),
  });
  return {
    ...server,
    async dispose() {
      await server.stop();
      rmSync(storeDir, { recursive: true, force: true });
    },
  };
}
