import { rmSync } from 'node:fs';
import { COMPILED } from '../common/package-root.js';
import { findNatsServer, startNatsServer } from '../scripts/lib/nats-server.js';
import { measureStartup, stopTimedStacks } from './measure/startup.js';
import { stopOnSignal } from './stop-on-signal.js';
import { benchTempDir } from './temp-dir.js';
import { startFakeUpstream } from './upstream/fake-upstream.js';

// `npm run bench:startup [-- rounds]`: figure 7 of `npm run bench` alone (start to ready of a
// gateway, a worker and the `npm start` stack), in well under a minute, on a nats-server and
// fake upstream of its own.
const rounds = Number(process.argv[2] ?? 5);
const say = (line: string) => process.stdout.write(`[bench] ${line}\n`);
const binary = findNatsServer();
if (!binary) throw new Error('nats-server is not installed; run "apt-get install nats-server"');
const storeDir = benchTempDir('startup-nats-');
const nats = await startNatsServer({ binary, port: -1, storeDir });
const upstream = await startFakeUpstream();
stopOnSignal(async () => {
  await stopTimedStacks();
  await upstream.close();
  await nats.stop();
  rmSync(storeDir, { recursive: true, force: true });
});
try {
  const env = { LOG_FORMAT: 'json', NATS_URL: nats.url, OLLAMA_URL: upstream.url, DEFAULT_MODEL: 'bench' };
  const result = await measureStartup({ ...process.env, ...env }, rounds, COMPILED ? 'dist' : 'tsx', say);
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  await upstream.close();
  await nats.stop();
  rmSync(storeDir, { recursive: true, force: true });
}
