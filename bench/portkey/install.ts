import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../scripts/lib/child-process.js';

/** The Portkey gateway release the side-by-side figures are taken with. */
export const PORTKEY_VERSION = '1.15.2';
/** Git-ignored folder of the opt-in install: `npm ci` never pays for Portkey. */
export const PORTKEY_PREFIX = join(ROOT, '.portkey');
export const PORTKEY_ENTRY = join(PORTKEY_PREFIX, 'node_modules', '@portkey-ai', 'gateway', 'build', 'start-server.js');

export function portkeyInstalled(): boolean {
  return existsSync(PORTKEY_ENTRY);
}

/**
 * Installs `@portkey-ai/gateway` into `.portkey/`, apart from the project's dependencies and
 * without install scripts. Throws with npm's exit status when it fails.
 */
export function installPortkey(say: (line: string) => void): void {
  mkdirSync(PORTKEY_PREFIX, { recursive: true });
  writeFileSync(
    join(PORTKEY_PREFIX, 'package.json'),
    JSON.stringify(
      {
        name: 'agentbus-bench-portkey',
        private: true,
        description: 'Portkey gateway for the side-by-side benchmark (npm run bench:install-portkey)',
      },
      null,
      2,
    ) + '\n',
  );
  const args = [
    'install',
    '--prefix',
    PORTKEY_PREFIX,
    '--no-audit',
    '--no-fund',
    '--ignore-scripts',
    `@portkey-ai/gateway@${PORTKEY_VERSION}`,
  ];
  say(`installing @portkey-ai/gateway ${PORTKEY_VERSION} into ${PORTKEY_PREFIX}…`);
  const result = spawnSync('npm', args, { stdio: 'inherit', shell: process.platform === 'win32', timeout: 300_000 });
  if (result.status !== 0) throw new Error(`"npm ${args.join(' ')}" failed (exit ${result.status})`);
  say('Portkey installed: npm run bench now runs it side by side');
}
