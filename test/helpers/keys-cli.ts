import { spawn } from 'node:child_process';

/** What one run of `npm run keys` printed, and its exit code. */
export interface KeysCliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

const repo = new URL('../..', import.meta.url);

/**
 * Runs the real keys CLI (scripts/keys.ts) as a child process with `KEYS_FILE=keysFile`;
 * killed after 30 s, so a hang fails the test instead of holding it.
 */
export function runKeysCli(keysFile: string, args: string[], env: Record<string, string> = {}): Promise<KeysCliResult> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/keys.ts', ...args], {
    cwd: repo,
    env: { ...process.env, KEYS_FILE: keysFile, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
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
