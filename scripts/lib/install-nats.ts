import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { findNatsServer } from './nats-server.js';

const HOW_TO_INSTALL = 'Install it (Debian/Ubuntu: "sudo apt-get install nats-server"; other systems: see https://docs.nats.io), or set NATS_URL to a NATS server you already run.';

/**
 * The nats-server binary, installing Debian's `nats-server` package first when it is missing
 * and we can (root, apt-get present). Otherwise throws saying what to install.
 */
export function ensureNatsServer(say: (line: string) => void): string {
  const found = findNatsServer();
  if (found) return found;
  if (process.env['NATS_SERVER_BIN']) throw new Error(`NATS_SERVER_BIN=${process.env['NATS_SERVER_BIN']} is not an executable file. ${HOW_TO_INSTALL}`);
  if (process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get')) {
    throw new Error(`nats-server is not installed. ${HOW_TO_INSTALL}`);
  }
  say('nats-server is not installed: installing the Debian package (apt-get update && apt-get install -y nats-server)…');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update'], ['install', '-y', '--no-install-recommends', 'nats-server']]) {
    const result = spawnSync('apt-get', args, { stdio: 'inherit', env });
    if (result.status !== 0) throw new Error(`"apt-get ${args.join(' ')}" failed (exit ${result.status}). ${HOW_TO_INSTALL}`);
  }
  const installed = findNatsServer();
  if (!installed) throw new Error(`the nats-server package installed, but no nats-server binary was found. ${HOW_TO_INSTALL}`);
  say(`installed ${installed}`);
  return installed;
}
