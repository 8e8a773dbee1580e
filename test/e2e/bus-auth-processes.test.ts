import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import t from 'tap';
import { ROOT } from '../../scripts/lib/child-process.js';
import { ensureBusCredentials, passwordFileOf } from '../../scripts/lib/nats-credentials.js';
import { startFakeOllama } from '../helpers/fake-ollama.js';
import { startTestNats } from '../helpers/nats.js';
import {
  runScriptToExit,
  startGatewayProcess,
  startWorkerProcess,
  type ScriptRun,
  type TestProcess,
} from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

// Real gateway and worker processes, each with its own bus user, on a nats-server running the
// repo's nats.conf, after `npm run bus:setup` as the admin user: the whole path works with the
// locked-down bus, and nothing in it trips a permission (the response cache, the rate limits,
// the audit stream, $SRV.STATS for /ready and /metrics, memory queries, replay).

const dir = mkdtempSync(join(tmpdir(), 'agentbus-bus-procs-'));
const bus = ensureBusCredentials(dir);
const nats = await startTestNats(join(ROOT, 'nats.conf'), { ...process.env, ...bus.serverEnv });
const ollama = await startFakeOllama();
const processes: TestProcess[] = [];
t.teardown(async () => {
  for (const p of processes.reverse()) await p.stop();
  await ollama.close();
  await nats.dispose();
  rmSync(dir, { recursive: true, force: true });
});

// Only what the processes need: no NATS_* of the test's own environment leaks in.
const base = {
  NATS_URL: nats.url,
  OLLAMA_URL: ollama.url,
  DATA_DIR: join(dir, 'data'),
  LOG_DIR: join(dir, 'logs'),
  API_KEYS: 'bus-key',
  AUDIT: 'on',
  CACHE_TTL_SECONDS: '30',
  NATS_USER: '',
  NATS_PASSWORD: '',
  NATS_PASSWORD_FILE: '',
};
const as = (role: 'gateway' | 'worker' | 'replay' | 'admin') => ({
  NATS_USER: role,
  NATS_PASSWORD_FILE: passwordFileOf(dir, role),
});

t.test('a worker process without credentials is refused and exits 1, naming the variables', async (t) => {
  const failed = await startWorkerProcess(base, ['testing']).then(
    (p) => {
      processes.push(p);
      return 'started';
    },
    (err: Error) => err.message,
  );
  t.match(failed, /workers\/main\.ts exited with 1 before it was ready/);
  t.match(
    failed,
    /refused the connection \(Authorization Violation\): no credentials were given: set NATS_USER and NATS_PASSWORD \(or NATS_PASSWORD_FILE\)/,
  );
  const wrong = await startWorkerProcess(
    { ...base, ...as('worker'), NATS_PASSWORD_FILE: passwordFileOf(dir, 'gateway') },
    ['testing'],
  ).then(
    (p) => {
      processes.push(p);
      return 'started';
    },
    (err: Error) => err.message,
  );
  t.match(
    wrong,
    /user "worker" \(NATS_USER\) with the password from NATS_PASSWORD_FILE=.*gateway\.password was refused/,
  );
  t.notMatch(wrong, bus.serverEnv['AGENTBUS_NATS_GATEWAY_PASSWORD']!, 'no password in the output');
});

t.test('npm run bus:setup needs the admin user, and creates the stream and buckets', async (t) => {
  const asGateway = await runScript('scripts/bus-setup.ts', [], as('gateway'));
  t.equal(asGateway.code, 1, asGateway.stdout);
  t.match(
    asGateway.stderr,
    // Which refusal comes first (the inbox or the stream) varies; either names the fix.
    /run the setup as the admin user \(NATS_USER=admin/,
  );
  const setup = await runScript('scripts/bus-setup.ts', [], as('admin'));
  t.equal(setup.code, 0, setup.stderr);
  t.match(
    setup.stdout,
    /audit stream AGENTBUS_AUDIT created\n.*response cache bucket agentbus_responses ready \(TTL 30 s\)\n.*rate limit bucket agentbus_rate_limits ready\n.*done/,
  );
});

t.test(
  'npm run bus:setup reads only its own variables: a gateway-only problem does not block it, its own are still checked',
  async (t) => {
    // A gateway would refuse this (the dev key on a non-loopback HOST); the setup has no HTTP side.
    const gatewayOnly = await runScript('scripts/bus-setup.ts', [], {
      ...as('admin'),
      HOST: '0.0.0.0',
      KEYS_FILE: 'none',
      API_KEYS: '',
      PROVIDER: 'nonsense',
    });
    t.equal(gatewayOnly.code, 0, gatewayOnly.stderr);
    t.match(gatewayOnly.stdout, /rate limit bucket agentbus_rate_limits ready\n.*done/);
    const bad = await runScript('scripts/bus-setup.ts', [], {
      ...as('admin'),
      CACHE_TTL_SECONDS: '-1',
      AUDIT: 'maybe',
    });
    t.equal(bad.code, 1);
    t.match(bad.stderr, /CACHE_TTL_SECONDS="-1" must be an integer between 0 and 86400/);
    t.match(bad.stderr, /AUDIT="maybe" must be one of: on, off/);
  },
);

t.test('gateway and worker, each with its own user: chat, cache, memory, /ready and replay work', async (t) => {
  const worker = await startWorkerProcess({ ...base, ...as('worker') }, ['testing', 'voice_processor']);
  processes.push(worker);
  // A limited tier, so the gateway keeps its rate limits in their KV bucket.
  const gateway = await startGatewayProcess({ ...base, ...as('gateway'), API_KEYS_TIER: 'standard' });
  processes.push(gateway);
  const url = String(gateway.ready['url']);
  const headers = { authorization: 'Bearer bus-key', 'content-type': 'application/json' };
  const body = JSON.stringify({
    model: 'testing',
    messages: [{ role: 'user', content: 'hello over a locked bus' }],
    temperature: 0,
  });

  const first = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers, body });
  const answer = (await first.json()) as {
    id: string;
    conversation_id: string;
    choices: Array<{ message: { content: string } }>;
  };
  t.equal(first.status, 200, JSON.stringify(answer));
  t.equal(first.headers.get('x-cache'), 'MISS');
  t.ok(answer.choices[0]!.message.content.length > 0, 'an answer streamed back from the worker');

  // The worker writes the cache once the turn is committed, on the gateway's receipt: after the
  // client had its answer, so the next identical request may come first.
  await waitFor('the answer to be cached', async () => {
    const again = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers, body });
    await again.arrayBuffer();
    return again.headers.get('x-cache') === 'HIT';
  });
  t.pass("the worker user reads and writes the response cache's KV bucket");

  const memory = await fetch(`${url}/memory/last?session=${encodeURIComponent(answer.conversation_id)}`, { headers });
  t.equal(memory.status, 200, 'memory queries reach a worker and its answer comes back');
  await memory.arrayBuffer();
  const ready = await fetch(`${url}/ready`);
  t.equal(ready.status, 200, "the gateway reads the workers' $SRV.INFO/STATS");
  await ready.arrayBuffer();
  const metrics = await fetch(`${url}/metrics`);
  t.match(await metrics.text(), /agentbus_workers 1/, "/metrics gathers the worker's $SRV.STATS");

  const nc = await connect({
    servers: nats.url,
    user: 'gateway',
    pass: bus.serverEnv['AGENTBUS_NATS_GATEWAY_PASSWORD']!,
    inboxPrefix: '_INBOX.gateway',
  });
  const jsm = await jetstreamManager(nc);
  t.ok(
    (await jsm.streams.info('KV_agentbus_rate_limits')).state.messages > 0,
    'the gateway user keeps rate limits in their KV bucket',
  );
  await nc.close();

  const replayed = await runScript('scripts/replay.ts', [answer.id], as('replay'));
  t.equal(replayed.code, 0, replayed.stderr);
  t.match(
    replayed.stdout.trim().split('\n').at(-1),
    /"type":"done"/,
    'the replay user reads the audit stream and gets the answer again',
  );
  // Speech over the locked bus: the gateway may publish the request and its audit copy, the
  // worker may answer on the agent's inbox, and replay reads the record (and names it as speech).
  const speech = await fetch(`${url}/v1/audio/speech`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ model: 'tts-1', input: 'locked bus speech', voice: 'alloy', response_format: 'wav' }),
  });
  t.equal(speech.status, 200);
  t.ok((await speech.arrayBuffer()).byteLength > 10_000, 'audio came back');
  const speechReplay = await runScript('scripts/replay.ts', [speech.headers.get('x-request-id')!], as('replay'));
  t.equal(speechReplay.code, 2);
  t.match(speechReplay.stderr, /is a speech request \(voice agent voice_processor/, 'recorded in the audit stream');
  const anonymous = await runScript('scripts/replay.ts', [answer.id], {});
  t.equal(anonymous.code, 2);
  t.match(
    anonymous.stderr,
    /refused the connection \(Authorization Violation\): no credentials were given: set NATS_USER and NATS_PASSWORD/,
  );

  for (const [name, p] of [
    ['gateway', gateway],
    ['worker', worker],
  ] as const) {
    t.notMatch(p.output(), /Permissions Violation|permission|bus:setup/i, `no permission was refused to the ${name}`);
    for (const password of Object.values(bus.serverEnv))
      t.notMatch(p.output(), password, `no password in the ${name}'s logs`);
  }
});

/** `npm run replay -- …` (or another script) with `env` over the stack's, bounded in time. */
function runScript(script: string, args: string[], env: Record<string, string>): Promise<ScriptRun> {
  return runScriptToExit(script, args, { ...base, ...env }, { teardown: t });
}
