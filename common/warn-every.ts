import { systemClock, type Clock } from './clock.js';
import type { Logger } from './logger.js';

/** Logs a warning for `reason`, unless one for it was logged less than the interval ago. */
export type Warn = (reason: string, err: unknown, message: string) => void;

/**
 * A warning per reason at most once per `intervalMs`, with how many were suppressed since: a
 * store that stays down must not write a line per request. `fields` go on every line.
 */
export function warnEvery(
  log: Pick<Logger, 'warn'>,
  intervalMs: number,
  fields: Record<string, unknown> = {},
  clock: Clock = systemClock,
): Warn {
  const last = new Map<string, { at: number; suppressed: number }>();
  return (reason, err, message) => {
    const now = clock.now();
    const seen = last.get(reason);
    if (seen && now - seen.at < intervalMs) {
      seen.suppressed++;
      return;
    }
    // Bounded: reasons include unknown tier names, which come from the keys file.
    if (last.size > 1000) last.clear();
    last.set(reason, { at: now, suppressed: 0 });
    log.warn({ ...fields, err, reason, suppressed: seen?.suppressed ?? 0 }, message);
  };
}
