import t from 'tap';
import { runningBanner, type ReadyBackend, type RunningStack } from '../../scripts/lib/start-banner.js';

const stack = (backend: ReadyBackend): RunningStack => ({
  gatewayUrl: 'http://127.0.0.1:8080',
  devKey: true,
  agents: ['testing'],
  backend,
  natsUrl: 'nats://127.0.0.1:4222',
  credentials: undefined,
  dataDir: '/tmp/data',
  memoryFile: '/tmp/data/agentbus.sqlite',
  voice: 'espeak-ng',
  listen: 'pocketsphinx',
  pids: { supervisor: 1, worker: 2, gateway: 3 },
});
const missingLine = (backend: ReadyBackend) =>
  runningBanner(stack(backend)).find((line) => /missing models/.test(line));

t.test('missing models: Ollama is told to pull them', async (t) => {
  const line = missingLine({ name: 'ollama', url: 'http://127.0.0.1:11434', reachable: true, missingModels: ['a'] });
  t.match(line, /missing models: a — run "ollama pull <model>" for each/);
});

t.test('missing models: an OpenAI-compatible server is said not to list them, with no ollama pull', async (t) => {
  const url = 'http://127.0.0.1:9000/v1';
  const line = missingLine({ name: 'openai', url, reachable: true, missingModels: ['a', 'b'] });
  t.match(line, `missing models: a, b — ${url} does not list them (GET /models)`);
  t.notMatch(line, /ollama/);
});

t.test('no line when every model is there', async (t) => {
  t.equal(missingLine({ name: 'openai', url: 'http://x/v1', reachable: true, missingModels: [] }), undefined);
});

t.test('an add-a-gateway line beside the add-workers one: the same bus, user, DATA_DIR; another port', async (t) => {
  const backend: ReadyBackend = { name: 'ollama', url: 'http://127.0.0.1:11434', reachable: true, missingModels: [] };
  const credentials = {
    gateway: { user: 'gateway' as const, passwordFile: '/tmp/data/nats-credentials/gateway.password' },
    worker: { user: 'worker' as const, passwordFile: '/tmp/data/nats-credentials/worker.password' },
  };
  const saved = { API_KEYS: process.env['API_KEYS'], AGENTS_FILE: process.env['AGENTS_FILE'] };
  process.env['API_KEYS'] = 'secret-key';
  process.env['AGENTS_FILE'] = '/tmp/agents.json';
  t.teardown(() => {
    for (const [name, value] of Object.entries(saved))
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
  });
  const locked = runningBanner({ ...stack(backend), natsUrl: 'nats://127.0.0.1:40001', credentials });
  const line = locked.find((l) => /add a gateway:/.test(l));
  t.match(
    line,
    'add a gateway: NATS_URL=nats://127.0.0.1:40001 NATS_USER=gateway ' +
      'NATS_PASSWORD_FILE=/tmp/data/nats-credentials/gateway.password AGENTS_FILE=/tmp/agents.json ' +
      'DATA_DIR=/tmp/data PORT=<another port> npm run gateway',
  );
  t.notMatch(line, /secret-key/, 'never a key: API_KEYS is set again by hand');
  const open = runningBanner(stack(backend)).find((l) => /add a gateway:/.test(l));
  t.match(open, 'add a gateway: NATS_URL=nats://127.0.0.1:4222 AGENTS_FILE=/tmp/agents.json DATA_DIR=/tmp/data PORT=');
});
