/**
 * Calls `gone` once when this process's parent exits (the process is handed to another
 * parent), checking every `intervalMs`. Returns a function that stops watching.
 *
 * Why: under `npm start`, npm forwards SIGTERM and SIGINT to the script but not SIGHUP, and a
 * SIGKILLed npm forwards nothing; the stack must not run on without the process that owns it.
 */
export function watchParent(gone: (parentPid: number) => void, intervalMs = 500): () => void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    gone(parent);
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
