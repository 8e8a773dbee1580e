// A process whose root logger buffers (stdout is a pipe): it logs, then SIGTERMs itself before
// installing any shutdown handler, as a gateway stopped while still connecting to NATS would be.
import { createLogger } from '../../common/logger.js';

const log = createLogger('early-signal');
for (let i = 0; i < 20; i++) log.info({ i }, 'buffered line');
setTimeout(() => process.kill(process.pid, 'SIGTERM'), 20);
setTimeout(() => undefined, 10_000);
