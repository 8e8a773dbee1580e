import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Logger } from '../../common/logger.js';
import type { PackageInstaller } from './engine-install.js';

/** The last lines apt-get wrote, for the error when it fails. */
function run(args: string[], log: Logger): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('apt-get', args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    let tail = '';
    const keep = (chunk: Buffer) => (tail = (tail + chunk.toString('utf8')).slice(-1000));
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.once('error', reject);
    child.once('close', (code) => {
      if (code === 0) return resolve();
      log.warn({ args, output: tail }, 'apt-get failed');
      reject(new Error(`"apt-get ${args.join(' ')}" failed (exit ${code}): ${tail.trim().split('\n').at(-1) ?? ''}`));
    });
  });
}

// One apt-get at a time in this process: dpkg holds a lock, and two engines may be missing at once.
let queue: Promise<unknown> = Promise.resolve();

/**
 * Debian's apt-get, as `npm start` uses it for nats-server (scripts/lib/install-debian-package.ts),
 * but without blocking the worker's event loop: other requests go on while a package installs.
 */
export const aptInstaller: PackageInstaller = {
  refusal() {
    if (process.getuid?.() !== 0) return 'the worker does not run as root, so it cannot install it';
    if (!existsSync('/usr/bin/apt-get')) return 'this system has no apt-get';
    return undefined;
  },
  install(debianPackage, log) {
    const step = queue.then(async () => {
      await run(['update'], log);
      await run(['install', '-y', '--no-install-recommends', debianPackage], log);
    });
    queue = step.catch(() => undefined);
    return step;
  },
};
