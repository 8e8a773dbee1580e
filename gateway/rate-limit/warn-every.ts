import type { Logger } from '../../common/logger.js';

/**
 * A warning per reason at most once per `intervalMs`, with how many were suppressed since: a
 * store that stays down must not write a line per request.
 */
export function warnEvery(
  log: Pick<Logger, 'warn'>,
  intervalMs: number,
): (reason: string, err: unknown, message: string) => void {
  const last = new Map<string, { at: number; suppressed: number }>();
  return (reason, err, message) => {
    const now = Date.now();
    const seen = last.get(reason);
    if (seen && now - seen.at < intervalMs) {
      seen.suppressed++;
      return;
    }
    // Bounded: reasons include unknown tier names, which come from the keys file.
    if (last.size > 1000) last.clear();
    last.set(reason, { at: now, suppressed: 0 });
    log.warn({ err, reason, suppressed: seen?.suppressed ?? 0 }, message);
  };
}
