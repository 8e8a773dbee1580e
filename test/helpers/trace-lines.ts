import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sleep } from './wait.js';

/** Every line of `<logDir>/<agent>.log`, parsed. */
export function traceLinesOf(logDir: string, agent: string): Array<Record<string, any>> {
  const file = join(logDir, `${agent}.log`);
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
}

/**
 * The trace line of one request. Lines reach the file after the response (the gateway's
 * trace log writes asynchronously and its flush() is not reachable from a test), so poll.
 */
export async function traceLine(
  logDir: string,
  agent: string,
  requestId: string,
  timeoutMs = 5000,
): Promise<Record<string, any>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = traceLinesOf(logDir, agent).filter((line) => line.request_id === requestId);
    if (found.length > 1) throw new Error(`${found.length} trace lines for ${requestId}`);
    if (found[0]) return found[0];
    if (Date.now() > deadline) throw new Error(`no trace line for ${requestId} in ${agent}.log within ${timeoutMs} ms`);
    await sleep(20);
  }
}
