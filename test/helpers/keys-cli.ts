import { spawn } from 'node:child_process';
import { runKeysCommand } from '../../scripts/lib/keys-command.js';

/** What one run of `npm run keys` printed, and its exit code. */
export interface KeysCliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

const repo = new URL('../..', import.meta.url);

/**
 * Runs the keys command (scripts/lib/keys-command.ts) with `KEYS_FILE=keysFile`, in this
 * process: the same code `npm run keys` runs, without a fresh `node --import tsx` per call.
 */
export function runKeysCli(keysFile: string, args: string[], env: Record<string, string> = {}): Promise<KeysCliResult> {
  let stdout = '';
  let stderr = '';
  const code = runKeysCommand(args, {
    env: { ...process.env, KEYS_FILE: keysFile, ...env },
    out: (text) => (stdout += text),
    err: (text) => (stderr += text),
  });
  return Promise.resolve({ code, stdout, stderr });
}

/**
 * Runs the real CLI (scripts/keys.ts) as a child process, for what only a process shows: its
 * exit code and streams. Killed after 30 s, so a hang fails the test instead of holding it.
 */
export function runKeysProcess(
  keysFile: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<KeysCliResult> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/keys.ts', ...args], {
    cwd: repo,
    env: { ...process.env, KEYS_FILE: keysFile, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return new Promise((resolve) => {
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Creates a key with the CLI and returns it (the one line the CLI prints on stdout). */
export async function createKey(keysFile: string, args: string[]): Promise<string> {
  const result = await runKeysCli(keysFile, ['create', ...args]);
  if (result.code !== 0) throw new Error(`keys create ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
  return result.stdout.trim();
}
