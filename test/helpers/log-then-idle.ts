// A process whose root logger gathers lines (stdout is a pipe, the shutdown handler "installed"):
// it logs one line, which the timed flush writes, then idles until its parent is done with it.
// With `warm` it exits at once: a first run fills tsx's compile cache, so the measured one starts
// no esbuild service (whose pings would be writes of their own).
import { createLogger, gatherLogLines } from '../../common/logger.js';

if (process.argv[2] !== 'warm') {
  gatherLogLines();
  createLogger('idle').info('one line, then nothing');
  setTimeout(() => undefined, 20_000);
}
