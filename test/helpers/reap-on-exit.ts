import { spawn } from 'node:child_process';

// Loaded into every test process (tap's node-arg). Tests start nats-servers, workers, gateways
// and databases in their own process groups, so when the runner kills a test file at its
// timeout (SIGTERM, then SIGKILL: no exit handler runs) they would live on. Every process this
// test starts inherits the mark below; a watchdog outside the test waits for the test to end,
// however it ends, and kills whatever still carries the mark.
const MARK = 'AGENTBUS_TEST_OWNER';

// Set once, by the test process itself: its children keep the owner they inherited.
if (process.platform === 'linux' && !process.env[MARK]) {
  const owner = String(process.pid);
  process.env[MARK] = owner;
  const script =
    `while kill -0 ${owner} 2>/dev/null; do sleep 1; done; ` +
    `for f in $(grep -lzx '${MARK}=${owner}' /proc/[0-9]*/environ 2>/dev/null); do ` +
    `p=\${f#/proc/}; kill -KILL "\${p%/environ}" 2>/dev/null; done`;
  const watchdog = spawn('sh', ['-c', script], { detached: true, stdio: 'ignore', env: {} });
  watchdog.unref();
}
