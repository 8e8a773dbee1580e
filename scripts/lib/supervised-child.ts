import type { ChildProcess } from 'node:child_process';
import { startChild, stopChild, type StartedChild } from './child-process.js';
import { supervise, type Supervised } from './supervised-process.js';

/** A gateway or worker process as the supervisor runs it. */
export interface ChildIncarnation extends StartedChild {
  readonly process: ChildProcess;
  stop(): Promise<number | null>;
}

export interface SupervisedChildOptions {
  /** `worker`, `gateway`: how the log lines name it. */
  name: string;
  /** The entry point, relative to the repository root (`workers/main.ts`). */
  entry: string;
  args?: string[];
  /** Its environment for the `restarts`-th restart (0: the first start). */
  env(restarts: number): NodeJS.ProcessEnv;
  say: (line: string) => void;
  /** Aborts the first start (the stack is stopped while starting). */
  signal?: AbortSignal;
}

/**
 * Starts a gateway or worker and restarts it when it crashes (see supervise). Each run gets
 * AGENTBUS_RESTARTS, the restarts so far, which it reports in `/metrics`.
 */
export function superviseChild(options: SupervisedChildOptions): Promise<Supervised<ChildIncarnation>> {
  const { name, say } = options;
  return supervise<ChildIncarnation>(
    {
      name,
      start: async (restarts, signal) => {
        const env = { ...options.env(restarts), AGENTBUS_RESTARTS: String(restarts) };
        const started = await startChild(options.entry, options.args ?? [], env, { signal });
        return { ...started, process: started.child, stop: () => stopChild(started.child) };
      },
    },
    {
      say,
      signal: options.signal,
      restarted: (child, restarts) => say(`${name} is back (pid ${child.process.pid}, restart ${restarts})`),
    },
  );
}
