import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../../scripts/lib/child-process.js';
import { ensureBusCredentials } from '../../scripts/lib/nats-credentials.js';
import { findNatsServer, startNatsServer, type RunningNatsServer } from '../../scripts/lib/nats-server.js';
import { freePort } from '../../scripts/lib/ports.js';
import { waitFor } from './wait.js';

/** One node of a {@link TestCluster}. */
export interface TestClusterNode {
  /** server_name (AGENTBUS_NATS_SERVER_NAME): n1, n2, n3. */
  readonly name: string;
  readonly url: string;
  /** Its HTTP monitoring endpoint (`/connz`, `/jsz`, …). */
  readonly monitorUrl: string;
  /** The running server; undefined once {@link TestCluster.kill}ed. */
  server: RunningNatsServer | undefined;
}

/** The repo's nats-cluster.conf on three loopback nodes, with generated bus and route passwords. */
export interface TestCluster {
  readonly nodes: readonly TestClusterNode[];
  /** NATS_URL for the processes: every node, comma-separated. */
  readonly natsUrl: string;
  /** DATA_DIR-like directory holding `nats-credentials/<role>.password` (passwordFileOf). */
  readonly dir: string;
  /** The servers' environment: AGENTBUS_NATS_<ROLE>_PASSWORD and the route password. */
  readonly serverEnv: Record<string, string>;
  /** SIGKILLs a node (no shutdown at all: a host lost). */
  kill(node: TestClusterNode): Promise<void>;
  /** Stops every node and removes every file; safe to call twice. */
  dispose(): Promise<void>;
}

/**
 * Starts a private three-node cluster of the repo's `nats-cluster.conf` on loopback: random
 * client ports, free route and monitoring ports, a store directory each, routes authenticated
 * with a generated password. Resolves once every node routes to the two others and JetStream
 * has a metadata leader all three agree on. A watchdog shell per node SIGKILLs it when this
 * process dies (the test runner killing the file at its timeout skips every teardown).
 */
export async function startTestCluster(size = 3): Promise<TestCluster> {
  const binary = findNatsServer();
  if (!binary)
    throw new Error('nats-server is not installed; run "apt-get install nats-server" (or see README, Troubleshooting)');
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-cluster-'));
  const credentials = ensureBusCredentials(dir);
  const routePassword = `pw${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
  const routePorts: number[] = [];
  const monitorPorts: number[] = [];
  for (let i = 0; i < size; i++) {
    routePorts.push(await freePort('127.0.0.1'));
    monitorPorts.push(await freePort('127.0.0.1'));
  }
  const routes = `[${routePorts.map((port) => `nats://route:${routePassword}@127.0.0.1:${port}`).join(', ')}]`;
  const serverEnv = { ...credentials.serverEnv, AGENTBUS_NATS_ROUTE_PASSWORD: routePassword };
  const watchdogs: number[] = [];
  const nodes: TestClusterNode[] = [];
  let disposed = false;
  const dispose = async () => {
    if (disposed) return;
    disposed = true;
    await Promise.all(nodes.map((node) => node.server?.stop() ?? Promise.resolve()));
    for (const pid of watchdogs) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const started = await Promise.all(
      routePorts.map((routePort, i) =>
        startNatsServer({
          binary,
          configFile: join(ROOT, 'nats-cluster.conf'),
          port: -1,
          storeDir: join(dir, `n${i + 1}`),
          startTimeoutMs: 20_000,
          extraArgs: ['-m', String(monitorPorts[i])],
          env: {
            ...process.env,
            ...serverEnv,
            AGENTBUS_NATS_SERVER_NAME: `n${i + 1}`,
            AGENTBUS_NATS_CLUSTER_LISTEN: `127.0.0.1:${routePort}`,
            AGENTBUS_NATS_ROUTES: routes,
          },
        }),
      ),
    );
    started.forEach((server, i) => {
      nodes.push({ name: `n${i + 1}`, url: server.url, monitorUrl: `http://127.0.0.1:${monitorPorts[i]}`, server });
      const watchdog = spawn(
        'sh',
        ['-c', `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill -9 ${server.process.pid}`],
        { stdio: 'ignore', detached: true },
      );
      watchdog.unref();
      if (watchdog.pid !== undefined) watchdogs.push(watchdog.pid);
    });
    await waitFor(
      'the cluster to form (all routes up, one JetStream metadata leader)',
      async () => {
        for (const node of nodes) {
          const routez = (await monitor(node, '/routez')) as { num_routes?: number } | undefined;
          const jsz = (await monitor(node, '/jsz')) as
            { meta_cluster?: { leader?: string; cluster_size?: number } } | undefined;
          if ((routez?.num_routes ?? 0) < size - 1) return false;
          if (!jsz?.meta_cluster?.leader || (jsz.meta_cluster.cluster_size ?? 0) < size) return false;
        }
        return true;
      },
      30_000,
    );
  } catch (err) {
    await dispose();
    throw err;
  }
  return {
    nodes,
    natsUrl: nodes.map((node) => node.url).join(','),
    dir,
    serverEnv,
    async kill(node) {
      const server = node.server;
      if (!server) return;
      node.server = undefined;
      const exited = new Promise<void>((resolve) => {
        if (server.process.exitCode !== null || server.process.signalCode !== null) resolve();
        else server.process.once('exit', () => resolve());
      });
      server.process.kill('SIGKILL');
      await exited;
    },
    dispose,
  };
}

/** A monitoring endpoint's JSON, or undefined when the node does not answer. */
export async function monitor(node: TestClusterNode, path: string): Promise<unknown> {
  try {
    const response = await fetch(`${node.monitorUrl}${path}`, { signal: AbortSignal.timeout(2000) });
    return response.ok ? await response.json() : undefined;
  } catch {
    return undefined;
  }
}

/** The name of the node holding the client connection named `connectionName`, if any. */
export async function nodeOfConnection(
  nodes: readonly TestClusterNode[],
  connectionName: string,
): Promise<TestClusterNode | undefined> {
  for (const node of nodes) {
    if (!node.server) continue;
    const connz = (await monitor(node, '/connz?limit=1024')) as { connections?: Array<{ name?: string }> } | undefined;
    if (connz?.connections?.some((c) => c.name === connectionName)) return node;
  }
  return undefined;
}
