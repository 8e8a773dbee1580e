/** How `npm start` spaces the restarts of a process that keeps crashing. */
export interface BackoffSettings {
  /** Wait before the first restart after a crash. */
  initialMs: number;
  /** Longest wait: each crash in a row doubles the wait up to this. */
  maxMs: number;
  /** A process that ran this long before crashing was healthy: its next restart is a first one again. */
  stableMs: number;
}

export const RESTART_BACKOFF: BackoffSettings = { initialMs: 500, maxMs: 30_000, stableMs: 60_000 };

/**
 * Exponential backoff over the crashes of one process. Pure: the caller says how long the
 * process ran, so a unit test drives it without a clock.
 */
export class RestartBackoff {
  private attempt = 0;

  constructor(private readonly settings: BackoffSettings = RESTART_BACKOFF) {}

  /**
   * After a crash of a process that ran `ranMs` (0 when it never became ready): which attempt in
   * a row the coming restart is, and how long to wait before it.
   */
  next(ranMs: number): { attempt: number; delayMs: number } {
    if (ranMs >= this.settings.stableMs) this.attempt = 0;
    this.attempt++;
    // 2 ** attempt overflows to Infinity long before attempt does; min() caps it either way.
    const delayMs = Math.min(this.settings.maxMs, this.settings.initialMs * 2 ** (this.attempt - 1));
    return { attempt: this.attempt, delayMs };
  }
}
