import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export interface DebianTool {
  /** What the user calls it, e.g. "nats-server". */
  name: string;
  /** The Debian package that provides it. */
  debianPackage: string;
  /** The installed binary, or undefined. */
  find(): string | undefined;
  /** What to do instead, for the error when it cannot be installed here. */
  howToInstall: string;
}

/**
 * The tool's binary, installing its Debian package first when it is missing and we can (root,
 * apt-get present). Otherwise throws saying what to install.
 */
export function ensureDebianTool(tool: DebianTool, say: (line: string) => void): string {
  const found = tool.find();
  if (found) return found;
  if (process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get')) {
    throw new Error(`${tool.name} is not installed. ${tool.howToInstall}`);
  }
  say(
    `${tool.name} is not installed: ` +
      `installing the Debian package (apt-get update && apt-get install -y ${tool.debianPackage})…`,
  );
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update'], ['install', '-y', '--no-install-recommends', tool.debianPackage]]) {
    const result = spawnSync('apt-get', args, { stdio: 'inherit', env });
    if (result.status !== 0)
      throw new Error(`"apt-get ${args.join(' ')}" failed (exit ${result.status}). ${tool.howToInstall}`);
  }
  const installed = tool.find();
  if (!installed)
    throw new Error(
      `the ${tool.debianPackage} package installed, but no ${tool.name} binary was found. ${tool.howToInstall}`,
    );
  say(`installed ${installed}`);
  return installed;
}
