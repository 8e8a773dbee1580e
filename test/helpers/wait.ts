/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Polls `check` every 20 ms until it holds or `timeoutMs` passes; says which. Bounded in time,
 * so a test waiting on something asynchronous (a backend abort, a log line) cannot hang. The
 * bound is a failure, not a timing claim: generous by default, so a loaded CI machine passes.
 */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<boolean> {
  for (const start = Date.now(); Date.now() - start < timeoutMs;) {
    if (await check()) return true;
    await sleep(20);
  }
  return check();
}

/** {@link waitUntil}, throwing an error that names `what` when it times out. */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  if (!(await waitUntil(check, timeoutMs))) throw new Error(`timed out waiting for ${what}`);
}
