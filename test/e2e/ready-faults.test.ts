import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { startFakeOllama } from '../helpers/fake-ollama.js';
import { startTestNats } from '../helpers/nats.js';
import { startGatewayProcess, startWorkerProcess, testStackEnv } from '../helpers/processes.js';
import { AUTH, startStack } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

// /ready says "not ready" for the conditions that make chat fail although workers answer, once
// no agent can be answered: every provider's circuit open (the stack's agents share one Ollama, so
// all of them), the one worker's memory refusing writes (probed for real on a full disk). Trouble
// that leaves another agent answerable is "degraded" (unit test readiness). A draining gateway
// answers new requests in the OpenAI error shape.

const chat = (baseUrl: string, extra: Record<string, string> = {}) =>
  fetch(`${baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { ...AUTH, ...extra },
    body: JSON.stringify({ model: 'code_review', messages: [{ role: 'user', content: 'hi' }] }),
  });

t.test("every provider's circuit open, for every agent: /ready is 503 and names them", async (t) => {
  const stack = await startStack({ env: { BREAKER_FAILURES: '1', BREAKER_COOLDOWN_MS: '600000' } });
  t.teardown(() => stack.close());
  t.equal((await fetch(`${stack.baseUrl}/ready`)).status, 200);
  stack.ollama.behave({ failWith: { status: 500, message: 'model crashed' } });
  t.equal((await chat(stack.baseUrl)).status, 502, 'the failure that opens the circuit');
  const res = await fetch(`${stack.baseUrl}/ready`);
  t.equal(res.status, 503);
  t.match(await res.json(), {
    status: 'unavailable',
    reason: /agent code_review: every provider's circuit is open on every worker \(ollama: /,
  });
});

t.test('a draining gateway answers new requests with 503 in the OpenAI shape, and retry headers', async (t) => {
  const stack = await startStack();
  t.teardown(() => stack.close());
  stack.ollama.behave({ tokens: ['slow', ' answer'], tokenDelayMs: 300 });
  // Two requests pipelined on one kept-alive connection: the second is read once the first is
  // answered, which the drain lets finish — it arrives while the gateway closes.
  const { hostname, port } = new URL(stack.baseUrl);
  const socket = connect(Number(port), hostname);
  t.teardown(() => socket.destroy());
  let received = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
  const request = (content: string) => {
    const body = JSON.stringify({ model: 'code_review', messages: [{ role: 'user', content }] });
    const head = Object.entries({ ...AUTH, host: `${hostname}:${port}`, 'content-length': Buffer.byteLength(body) })
      .map(([name, value]) => `${name}: ${value}`)
      .join('\r\n');
    socket.write(`POST /v1/chat/completions HTTP/1.1\r\n${head}\r\n\r\n${body}`);
  };
  request('first');
  await waitFor('the first request to reach the model', () => stack.ollama.requests.length === 1);
  const closing = stack.app.close();
  request('late');
  await waitFor('both answers', () => (received.match(/HTTP\/1\.1 /g) ?? []).length === 2 && received.endsWith('}'));
  const [first, late] = received.split(/(?=HTTP\/1\.1 )/);
  t.match(first, /^HTTP\/1\.1 200 /, 'the answer in progress still finished');
  t.match(late, /^HTTP\/1\.1 503 /);
  t.match(late, /\r\nx-should-retry: true\r\n/i);
  t.match(late, /\r\nretry-after: \d+\r\n/i);
  t.match(JSON.parse(late!.slice(late!.indexOf('\r\n\r\n') + 4)), {
    error: { code: 'bus_unavailable', type: 'server_error', message: /shutting down/ },
  });
  t.equal(stack.ollama.requests.length, 1, 'the late request never reached a model');
  await closing;
});

// A real full disk needs a filesystem of our own: a small tmpfs, mounted as root (CI is root).
const mountable = (() => {
  if (process.getuid?.() !== 0) return 'needs root to mount a small tmpfs';
  return undefined;
})();

t.test(
  'a worker whose disk is full: /ready is 503, chat is memory_unavailable before the model',
  { skip: mountable },
  async (t) => {
    const mount = mkdtempSync(join(tmpdir(), 'agentbus-fulldisk-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mount]);
    t.teardown(() => {
      execFileSync('umount', ['-l', mount]);
      rmSync(mount, { recursive: true, force: true });
    });
    const nats = await startTestNats();
    t.teardown(() => nats.dispose());
    const ollama = await startFakeOllama();
    t.teardown(() => ollama.close());
    const env = {
      ...testStackEnv(nats.url, ollama.url, join(mount, 'data')),
      LOG_DIR: join(mount, 'logs'),
      MEMORY_PROBE_INTERVAL_MS: '100',
      BACKEND_PROBE_INTERVAL_MS: '0',
    };
    const worker = await startWorkerProcess(env, ['code_review']);
    t.teardown(() => worker.stop());
    const gateway = await startGatewayProcess({ ...env, KEYS_FILE: 'none' });
    t.teardown(() => gateway.stop());
    const baseUrl = String(gateway.ready['url']);
    t.equal((await chat(baseUrl)).status, 200, 'answers while the disk has room');

    // Fill the disk: the worker's probe write fails with SQLITE_FULL.
    try {
      writeFileSync(join(mount, 'filler'), Buffer.alloc(8 * 1024 * 1024));
    } catch {
      // ENOSPC: full, as intended
    }
    let last: Response | undefined;
    await waitFor(
      '/ready to report the full disk',
      async () => (last = await fetch(`${baseUrl}/ready`)).status === 503,
      5000,
    );
    t.match(await last!.json(), { reason: /worker .* cannot write its memory/ });
    const before = ollama.requests.length;
    const refused = await chat(baseUrl);
    t.equal(refused.status, 503);
    t.match(await refused.json(), { error: { code: 'memory_unavailable', message: /DATA_DIR/ } });
    t.equal(refused.headers.get('x-should-retry'), 'true');
    t.equal(ollama.requests.length, before, 'the model was not asked');

    rmSync(join(mount, 'filler'));
    await waitFor('/ready to recover', async () => (await fetch(`${baseUrl}/ready`)).status === 200, 5000);
    t.equal((await chat(baseUrl)).status, 200, 'answers again');
  },
);
