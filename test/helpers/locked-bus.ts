import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errors, type NatsConnection } from '@nats-io/transport-node';
import type { Test } from 'tap';
import { ROOT } from '../../scripts/lib/child-process.js';
import { ensureBusCredentials } from '../../scripts/lib/nats-credentials.js';
import { startTestNats } from './nats.js';

/** The repo's nats.conf as `npm start` runs it: a test's own server with generated passwords. */
export interface LockedBus {
  /** Where the per-role password files are (DATA_DIR/nats-credentials as npm start makes it). */
  readonly dir: string;
  readonly url: string;
  /** The password variables the server was started with (AGENTBUS_NATS_<ROLE>_PASSWORD). */
  readonly serverEnv: Record<string, string>;
  /** Connections (raw, or Bus objects) the test opened; closed at teardown. */
  readonly opened: Array<{ close(): Promise<void> }>;
}

/**
 * Starts the shipped, locked-down nats.conf on a random port with freshly generated passwords
 * in the server's environment, and tears it down (connections, server, files) with `t`.
 */
export async function startLockedBus(t: Test, name: string): Promise<LockedBus> {
  const dir = mkdtempSync(join(tmpdir(), `agentbus-${name}-`));
  const bus = ensureBusCredentials(dir);
  const nats = await startTestNats(join(ROOT, 'nats.conf'), { ...process.env, ...bus.serverEnv });
  const opened: Array<{ close(): Promise<void> }> = [];
  t.teardown(async () => {
    for (const nc of opened) await nc.close().catch(() => undefined);
    await nats.dispose();
    rmSync(dir, { recursive: true, force: true });
  });
  return { dir, url: nats.url, serverEnv: bus.serverEnv, opened };
}

/** The next permission violation `nc` reports (nats.js raises them as status errors), or undefined after `timeoutMs`. */
export function nextViolation(
  nc: NatsConnection,
  timeoutMs = 5000,
): Promise<InstanceType<typeof errors.PermissionViolationError> | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), timeoutMs);
    // Ends with the connection; a status iterator never throws.
    (async () => {
      for await (const status of nc.status()) {
        if (status.type === 'error' && status.error instanceof errors.PermissionViolationError) {
          clearTimeout(timer);
          resolve(status.error);
          return;
        }
      }
    })().catch(() => resolve(undefined));
  });
}
