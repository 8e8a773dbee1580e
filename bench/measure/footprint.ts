import { readFileSync } from 'node:fs';

/** Resident set size of `pid` in MiB, from /proc/<pid>/status (VmRSS); NaN where there is no /proc. */
export function rssMb(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const match = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Math.round(Number(match[1]) / 102.4) / 10 : NaN;
  } catch {
    return NaN;
  }
}

/** Peak RSS of some processes while a load runs, sampled every 200 ms. */
export class RssSampler {
  readonly #peaks = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly pids: () => Record<string, Array<number | undefined>>) {}

  start(): this {
    const sample = () => {
      for (const [role, list] of Object.entries(this.pids())) {
        for (const pid of list) {
          const mb = rssMb(pid);
          if (mb > (this.#peaks.get(role) ?? 0)) this.#peaks.set(role, mb);
        }
      }
    };
    sample();
    this.#timer = setInterval(sample, 200);
    return this;
  }

  /** Stops sampling; the highest RSS seen per role (one worker's, not the sum). */
  stop(): Record<string, number> {
    clearInterval(this.#timer);
    return Object.fromEntries(this.#peaks);
  }
}
