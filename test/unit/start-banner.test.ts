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
