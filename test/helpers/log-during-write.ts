// A process whose root logger gathers lines: a warning starts a write of its own, an info line
// is logged behind it, and the loop is held until the timed flush is due, so that it comes while
// the warning's write is still in progress (its completion waits for the loop's poll phase, which
// comes after the timers). Then it idles until its parent is done with it.
import { createLogger, gatherLogLines, LOG_FLUSH_MS } from '../../common/logger.js';

gatherLogLines();
const log = createLogger('during-write');
setImmediate(() => {
  log.warn('written at once');
  log.info('written by a timed flush');
  const until = Date.now() + 2 * LOG_FLUSH_MS;
  while (Date.now() < until);
});
setTimeout(() => undefined, 20_000);
