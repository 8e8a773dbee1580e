import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LLAMA_CPP_PREFIX } from '../../workers/providers/llama-cpp/load-module.js';

/** The node-llama-cpp release the provider is written and tested against. */
export const NODE_LLAMA_CPP_VERSION = '3.22.1';

/** node-llama-cpp's prebuilt CPU binary package for this machine, if it publishes one. */
function cpuBinaryPackage(): string | undefined {
  const names: Record<string, string> = {
    'linux-x64': 'linux-x64',
    'linux-arm64': 'linux-arm64',
    'linux-arm': 'linux-armv7l',
    'darwin-arm64': 'mac-arm64-metal',
    'darwin-x64': 'mac-x64',
    'win32-x64': 'win-x64',
    'win32-arm64': 'win-arm64',
  };
  const name = names[`${process.platform}-${process.arch}`];
  return name && `@node-llama-cpp/${name}@${NODE_LLAMA_CPP_VERSION}`;
}

export function llamaCppInstalled(): boolean {
  return existsSync(join(LLAMA_CPP_PREFIX, 'node_modules', 'node-llama-cpp', 'package.json'));
}

/**
 * Installs node-llama-cpp into `.llama-cpp/`, apart from the project's dependencies: only the
 * CPU binary for this machine (no GPU builds, no install scripts, nothing compiled). Throws
 * with npm's exit status when it fails; only the llama-cpp provider needs it.
 */
export function installLlamaCpp(say: (line: string) => void): void {
  const binary = cpuBinaryPackage();
  if (!binary)
    throw new Error(
      `node-llama-cpp publishes no prebuilt binary for ${process.platform}-${process.arch}; ` +
        'the llama-cpp provider is not available here.',
    );
  mkdirSync(LLAMA_CPP_PREFIX, { recursive: true });
  writeFileSync(
    join(LLAMA_CPP_PREFIX, 'package.json'),
    JSON.stringify(
      {
        name: 'agentbus-llama-cpp',
        private: true,
        description: 'node-llama-cpp for the llama-cpp provider (npm run llama-cpp:install)',
      },
      null,
      2,
    ) + '\n',
  );
  const args = [
    'install',
    '--prefix',
    LLAMA_CPP_PREFIX,
    '--no-audit',
    '--no-fund',
    '--omit=optional',
    '--ignore-scripts',
    `node-llama-cpp@${NODE_LLAMA_CPP_VERSION}`,
    binary,
  ];
  say(`installing node-llama-cpp ${NODE_LLAMA_CPP_VERSION} (${binary}) into ${LLAMA_CPP_PREFIX}…`);
  const result = spawnSync('npm', args, { stdio: 'inherit', shell: process.platform === 'win32' });
  if (result.status !== 0)
    throw new Error(
      `"npm ${args.join(' ')}" failed (exit ${result.status}); ` +
        'the llama-cpp provider stays unavailable, everything else works.',
    );
  say('node-llama-cpp installed: set PROVIDER=llama-cpp and LLAMA_CPP_MODEL_PATH=<a .gguf file> to use it');
}
