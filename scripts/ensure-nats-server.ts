import { ensureNatsServer } from './lib/install-nats.js';

// `npm test` runs this first: the tests start their own nats-server processes, so the binary
// must exist (installed from Debian's packages when missing and possible).
try {
  ensureNatsServer((line) => process.stdout.write(`[agentbus] ${line}\n`));
} catch (err) {
  process.stderr.write(`[agentbus] ${(err as Error).message}\n`);
  process.exit(1);
}
