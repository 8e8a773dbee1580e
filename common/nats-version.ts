import { spawnSync } from 'node:child_process';

/**
 * The newest nats-server security fix agentbus knows of: CVE-2023-47090, an authentication
 * bypass (a client without credentials connecting as `no_auth_user`), fixed in 2.9.23 and
 * 2.10.2. Debian's bookworm package is 2.9.10.
 */
export const NATS_SECURITY_FIX = { cve: 'CVE-2023-47090', fixedIn: ['2.9.23', '2.10.2'] } as const;

const parse = (version: string): number[] | undefined => {
  const match = /^v?(\d+)\.(\d+)\.(\d+)/.exec(version.trim());
  return match ? match.slice(1, 4).map(Number) : undefined;
};
const older = (a: number[], b: number[]) => {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! < b[i]!;
  return false;
};

/**
 * A warning when nats-server `version` predates {@link NATS_SECURITY_FIX} on its release line
 * (older than 2.9.23, or a 2.10 before 2.10.2); undefined when it has the fix or the version is
 * not one we can read.
 */
export function natsServerAdvisory(version: string | undefined): string | undefined {
  const parts = version === undefined ? undefined : parse(version);
  if (!parts) return undefined;
  const [oldLine, newLine] = NATS_SECURITY_FIX.fixedIn.map((v) => parse(v)!) as [number[], number[]];
  const vulnerable = older(parts, oldLine) || (parts[0] === 2 && parts[1] === 10 && older(parts, newLine));
  if (!vulnerable) return undefined;
  return (
    `nats-server ${parts.join('.')} predates the fix for ${NATS_SECURITY_FIX.cve} ` +
    `(fixed in ${NATS_SECURITY_FIX.fixedIn.join(' and ')}): run a newer nats-server ` +
    '(NATS_SERVER_BIN for "npm start"; docs/security.md, "Running a current nats-server")'
  );
}

/** The version `binary --version` prints (`nats-server: v2.9.10`), or undefined. */
export function natsServerVersionOf(binary: string): string | undefined {
  const run = spawnSync(binary, ['--version'], { encoding: 'utf8', timeout: 5000 });
  return /v?(\d+\.\d+\.\d+\S*)/.exec(`${run.stdout ?? ''}${run.stderr ?? ''}`)?.[1];
}
