import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../../scripts/lib/child-process.js';
import { ensureBusCredentials } from '../../scripts/lib/nats-credentials.js';
import { findNatsServer, startNatsServer, type RunningNatsServer } from '../../scripts/lib/nats-server.js';
import { freePort } from '../../scripts/lib/ports.js';
import type { TestHost } from './netns.js';
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
  /** Starts a killed node again: same name, address, ports and store. */
  restart(node: TestClusterNode): Promise<void>;
  /** SIGKILLs a node (no shutdown at all: a host lost). */
  kill(node: TestClusterNode): Promise<void>;
  /** Stops every node and removes every file; safe to call twice. */
  dispose(): Promise<void>;
}

/**
 * Starts a private three-node cluster of the repo's `nats-cluster.conf` on loopback (random
 * client ports, free route and monitoring ports) or, given `hosts`, one node on each (their
 * addresses, the usual ports inside network namespaces), a store directory each, routes authenticated
 * with a generated password. Resolves once every node routes to the two others and JetStream
 * has a metadata leader all three agree on. The test's reaper kills the nodes when this
 * process dies (the test runner killing the file at its timeout skips every teardown).
 */
export async function startTestCluster(size = 3, hosts?: readonly TestHost[]): Promise<TestCluster> {
  const binary = findNatsServer();
  if (!binary)
    throw new Error('nats-server is not installed; run "apt-get install nats-server" (or see README, Troubleshooting)');
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-cluster-'));
  const credentials = ensureBusCredentials(dir);
  const routePassword = `pw${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
  // On hosts of their own (network namespaces) the usual ports are free; on loopback, free ones.
  const addressOf = (i: number) => hosts?.[i]?.address ?? '127.0.0.1';
  const ownHost = (i: number) => (hosts?.[i]?.launcher.length ?? 0) > 0;
  const portOf = async (i: number, usual: number) => (ownHost(i) ? usual : await freePort(addressOf(i)));
  const clientPorts: number[] = [];
  const routePorts: number[] = [];
  const monitorPorts: number[] = [];
  for (let i = 0; i < size; i++) {
    clientPorts.push(hosts ? await portOf(i, 4222) : -1);
    routePorts.push(await portOf(i, 6222));
    monitorPorts.push(await portOf(i, 8222));
  }
  const routes = `[${routePorts.map((port, i) => `nats://route:${routePassword}@${addressOf(i)}:${port}`).join(', ')}]`;
  const serverEnv = { ...credentials.serverEnv, AGENTBUS_NATS_ROUTE_PASSWORD: routePassword };
  const nodes: TestClusterNode[] = [];
  let disposed = false;
  const dispose = async () => {
    if (disposed) return;
    disposed = true;
    await Promise.all(nodes.map((node) => node.server?.stop() ?? Promise.resolve()));
    rmSync(dir, { recursive: true, force: true });
  };
  // Each node with its own store dir, so a restarted node comes back as itself. The test's
  // reaper (reap-on-exit.ts) kills them if the test process dies before its teardown.
  const startNode = (i: number) =>
    startNatsServer({
      binary,
      configFile: join(ROOT, 'nats-cluster.conf'),
      host: addressOf(i),
      port: clientPorts[i]!,
      launcher: hosts?.[i]?.launcher ?? [],
      storeDir: join(dir, `n${i + 1}`),
      startTimeoutMs: 20_000,
      extraArgs: ['-m', String(monitorPorts[i])],
      env: {
        ...process.env,
        ...serverEnv,
        AGENTBUS_NATS_SERVER_NAME: `n${i + 1}`,
        AGENTBUS_NATS_CLUSTER_LISTEN: `${addressOf(i)}:${routePorts[i]}`,
        AGENTBUS_NATS_ROUTES: routes,
      },
    });
  try {
    const started = await Promise.all(routePorts.map((_, i) => startNode(i)));
    started.forEach((server, i) => {
      clientPorts[i] = server.port;
      nodes.push({
        name: `n${i + 1}`,
        url: server.url,
        monitorUrl: `http://${addressOf(i)}:${monitorPorts[i]}`,
        server,
      });
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
    async restart(node) {
      if (node.server) return;
      node.server = await startNode(nodes.indexOf(node));
    },
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
