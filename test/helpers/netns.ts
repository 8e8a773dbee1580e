import { spawnSync } from 'node:child_process';
import { ensureDebianTool } from '../../scripts/lib/install-debian-package.js';
import { isExecutable } from '../../scripts/lib/executable.js';

/** One "host" of a test network: its own network namespace and address, or a loopback alias. */
export interface TestHost {
  readonly name: string;
  /** Where its servers listen and others reach it. */
  readonly address: string;
  /** Prefix of a command run on this host: `ip netns exec <ns>`, or nothing on loopback. */
  readonly launcher: readonly string[];
}

export interface TestNetwork {
  /** `netns` when every host is a network namespace, `loopback` when they are 127.0.0.x. */
  readonly kind: 'netns' | 'loopback';
  /** Why the hosts are loopback addresses, when they are. */
  readonly why?: string;
  readonly hosts: readonly TestHost[];
  /** The test's own address on the network (the bridge), reaching every host. */
  readonly clientAddress: string;
  /** Cuts a host's link (netns only): its processes run on but nobody reaches them. */
  cut(host: TestHost): void;
  restore(host: TestHost): void;
  dispose(): void;
}

const PREFIX = 'abt';
const IP = ['/usr/sbin/ip', '/usr/bin/ip', '/sbin/ip', '/bin/ip'];

function ip(...args: string[]): void {
  const run = spawnSync('ip', args, { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`ip ${args.join(' ')}: ${run.stderr.trim() || `exit ${run.status}`}`);
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

// Namespaces and bridges are named after the test process that made them: one whose process is
// gone (killed at its timeout before its teardown) left them behind, and they go now.
function removeStale(): void {
  const listed = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  for (const ns of listed.split('\n').map((line) => line.split(' ')[0] ?? '')) {
    const owner = new RegExp(`^${PREFIX}(\\d+)h\\d+$`).exec(ns)?.[1];
    if (owner && !alive(Number(owner))) spawnSync('ip', ['netns', 'del', ns]);
  }
  const links = spawnSync('ip', ['-o', 'link', 'show', 'type', 'bridge'], { encoding: 'utf8' }).stdout ?? '';
  for (const match of links.matchAll(new RegExp(`^\\d+: (${PREFIX}(\\d+)br):`, 'gm')))
    if (!alive(Number(match[2]))) spawnSync('ip', ['link', 'del', match[1]!]);
}

function loopback(count: number, why: string): TestNetwork {
  const hosts = Array.from({ length: count }, (_, i) => ({
    name: `host${i}`,
    address: `127.0.0.${i + 2}`,
    launcher: [],
  }));
  const refuse = () => {
    throw new Error(`cannot cut a link between loopback addresses (${why})`);
  };
  return { kind: 'loopback', why, hosts, clientAddress: '127.0.0.1', cut: refuse, restore: refuse, dispose() {} };
}

/**
 * `count` hosts on one bridge, each a network namespace with its own veth link and address
 * (10.123.N.x/24), and the bridge's address for the test itself. Needs root and iproute2
 * (installed from Debian's packages when missing); where namespaces cannot be made, the hosts
 * are the loopback addresses 127.0.0.2… and `why` says so.
 */
export function createTestNetwork(count: number, say: (line: string) => void): TestNetwork {
  if (process.env['AGENTBUS_TEST_NETNS'] === 'off') return loopback(count, 'AGENTBUS_TEST_NETNS=off');
  if (process.getuid?.() !== 0) return loopback(count, 'network namespaces need root');
  try {
    ensureDebianTool(
      {
        name: 'ip',
        debianPackage: 'iproute2',
        find: () => IP.find(isExecutable),
        howToInstall: 'Install iproute2 ("apt-get install iproute2").',
      },
      say,
    );
  } catch (err) {
    return loopback(count, (err as Error).message);
  }
  removeStale();
  const id = `${PREFIX}${process.pid}`;
  const bridge = `${id}br`;
  const subnet = `10.123.${process.pid % 250}`;
  const made: string[] = [];
  const hosts: Array<TestHost & { veth: string; ns: string }> = [];
  const dispose = () => {
    for (const ns of made) spawnSync('ip', ['netns', 'del', ns]);
    spawnSync('ip', ['link', 'del', bridge]);
  };
  try {
    ip('link', 'add', bridge, 'type', 'bridge');
    ip('addr', 'add', `${subnet}.254/24`, 'dev', bridge);
    ip('link', 'set', bridge, 'up');
    for (let i = 0; i < count; i++) {
      const ns = `${id}h${i}`;
      const veth = `${id}v${i}`;
      ip('netns', 'add', ns);
      made.push(ns);
      ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', `${veth}p`);
      ip('link', 'set', `${veth}p`, 'netns', ns);
      ip('-n', ns, 'link', 'set', `${veth}p`, 'name', 'eth0');
      ip('-n', ns, 'addr', 'add', `${subnet}.${i + 1}/24`, 'dev', 'eth0');
      ip('-n', ns, 'link', 'set', 'eth0', 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('link', 'set', veth, 'master', bridge);
      ip('link', 'set', veth, 'up');
      hosts.push({ name: `host${i}`, address: `${subnet}.${i + 1}`, launcher: ['ip', 'netns', 'exec', ns], veth, ns });
    }
  } catch (err) {
    dispose();
    return loopback(count, `network namespaces are unavailable here: ${(err as Error).message}`);
  }
  const vethOf = (host: TestHost) => hosts.find((h) => h.name === host.name)!.veth;
  return {
    kind: 'netns',
    hosts,
    clientAddress: `${subnet}.254`,
    cut: (host) => ip('link', 'set', vethOf(host), 'down'),
    restore: (host) => ip('link', 'set', vethOf(host), 'up'),
    dispose,
  };
}
