import t from 'tap';
import { startStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

// Workers probe their model backend every BACKEND_PROBE_INTERVAL_MS; /ready reads the result
// from their $SRV.STATS, so it follows the backend going away without a restart.
const stack = await startStack({ env: { BACKEND_PROBE_INTERVAL_MS: '200' } });
t.teardown(() => stack.close());
const ready = async () => {
  const res = await fetch(`${stack.baseUrl}/ready`);
  return { status: res.status, body: await res.json() };
};

t.test('/ready: NATS connected, workers per agent, the model backend reachable', async (t) => {
  const { status, body } = await ready();
  t.equal(status, 200);
  t.match(body, {
    status: 'ready',
    nats: 'connected',
    workers: 1,
    agents: { code_review: 1, voice_processor: 1 },
    backend: { ollama: { reachable: 1, unreachable: 0 } },
  });
});

t.test('the backend goes away: /ready says so within a probe interval', async (t) => {
  await stack.ollama.close();
  let last: Awaited<ReturnType<typeof ready>> | undefined;
  await waitFor(
    '/ready to report the backend unreachable',
    async () => {
      last = await ready();
      return last.status === 503;
    },
    5000,
  );
  t.match(last!.body, {
    status: 'unavailable',
    reason: /no worker reaches its model backend \(ollama\)/,
    backend: { ollama: { reachable: 0, unreachable: 1 } },
  });
});
