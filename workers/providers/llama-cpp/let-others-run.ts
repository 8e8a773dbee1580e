import { setImmediate } from 'node:timers/promises';

/**
 * Waits a macrotask before node-llama-cpp's synchronous tokenizing (~0.1 s per 300 KB), then
 * throws the stop of a request stopped meanwhile. A model slot passes to the next request through
 * a promise, so queued requests would otherwise tokenize back to back in one microtask drain and
 * no heartbeat would leave the worker for seconds (the gateway then presumes it lost).
 */
export async function letOthersRun(signal: AbortSignal): Promise<void> {
  await setImmediate();
  if (signal.aborted) throw signal.reason;
}
