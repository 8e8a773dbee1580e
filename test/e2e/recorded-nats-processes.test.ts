import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ROOT } from '../../scripts/lib/child-process.js';
import { ensureBusCredentials, passwordFileOf } from '../../scripts/lib/nats-credentials.js';
import { writeNatsRecord } from '../../scripts/lib/nats-record.js';
import { startFakeOllama } from '../helpers/fake-ollama.js';
import { startTestNats } from '../helpers/nats.js';
import { runScriptToExit, startGatewayProcess, startWorkerProcess, type TestProcess } from '../helpers/processes.js';

// `npm run gateway` and `npm run worker` added beside `npm start` without NATS_URL: they join the
// locked-down nats-server the stack recorded in DATA_DIR/nats-server.json (here on a random port,
// as when 4222 is taken), as their own bus users, never whatever listens on 4222.

const dir = mkdtempSync(join(tmpdir(), 'agentbus-recorded-nats-'));
const dataDir = join(dir, 'data');
const bus = ensureBusCredentials(dataDir);
const nats = await startTestNats(join(ROOT, 'nats.conf'), { ...process.env, ...bus.serverEnv });
writeNatsRecord(dataDir, { port: nats.port, storeDir: join(dir, 'nats'), pid: nats.process.pid! });
const ollama = await startFakeOllama();
const processes: TestProcess[] = [];
t.teardown(async () => {
  for (const p of processes.reverse()) await p.stop();
  await ollama.close();
  await nats.dispose();
  rmSync(dir, { recursive: true, force: true });
});

// What a user types: DATA_DIR and the model, no NATS_* at all.
const env = {
  DATA_DIR: dataDir,
  LOG_DIR: join(dir, 'logs'),
  OLLAMA_URL: ollama.url,
  API_KEYS: 'recorded-key',
  NATS_URL: '',
  NATS_USER: '',
  NATS_PASSWORD: '',
  NATS_PASSWORD_FILE: '',
};

t.test('a worker and a gateway without NATS_URL join npm start’s recorded bus and answer', async (t) => {
  const setup = await runScriptToExit(
    'scripts/bus-setup.ts',
    [],
    { ...env, NATS_URL: nats.url, NATS_USER: 'admin', NATS_PASSWORD_FILE: passwordFileOf(dataDir, 'admin') },
    { teardown: t },
  );
  t.equal(setup.code, 0, setup.stderr);
  const worker = await startWorkerProcess(env, ['testing']);
  processes.push(worker);
  const gateway = await startGatewayProcess(env);
  processes.push(gateway);
  for (const [name, p] of [
    ['worker', worker],
    ['gateway', gateway],
  ] as const) {
    t.match(p.output(), 'NATS_URL is unset: joining the nats-server npm start runs for DATA_DIR', `${name} says so`);
    t.match(p.output(), `"nats":"${nats.url}"`, `${name} names the recorded URL`);
    t.match(p.output(), `"user":"${name}"`, `${name} is its own bus user`);
  }
  const url = String(gateway.ready['url']);
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: 'Bearer recorded-key', 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'testing', messages: [{ role: 'user', content: 'hi' }] }),
  });
  t.equal(res.status, 200, await res.clone().text());
});
