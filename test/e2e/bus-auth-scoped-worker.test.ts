import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import t from 'tap';
import { ROOT } from '../../scripts/lib/child-process.js';
import { runBusCredentialsCommand } from '../../scripts/lib/bus-credentials-command.js';
import { ensureBusCredentials, passwordFileOf } from '../../scripts/lib/nats-credentials.js';
import { writeComposedConf } from '../../scripts/lib/nats-server-conf.js';
import { writeNatsRecord } from '../../scripts/lib/nats-record.js';
import { findNatsServer, startNatsServer } from '../../scripts/lib/nats-server.js';
import { workerPasswordFile } from '../../scripts/lib/worker-credentials.js';
import { startFakeOllama } from '../helpers/fake-ollama.js';
import { nextViolation } from '../helpers/locked-bus.js';
import { waitFor } from '../helpers/wait.js';
import { runScriptToExit, startGatewayProcess, startWorkerProcess, type TestProcess } from '../helpers/processes.js';

// Issue 18, finding 2: a worker credential scoped to code_review, minted by the one command
// (`npm run bus:credentials -- worker --agents code_review`), on a nats-server running the repo's
// nats.conf with that user spliced in, as npm start runs it. It may serve code_review and nothing
// else: no plain subscription to read envelopes, no other agent's queue group, cache keys or inboxes.

const dir = mkdtempSync(join(tmpdir(), 'agentbus-scoped-'));
const roles = ensureBusCredentials(dir);
const minted: string[] = [];
const code = runBusCredentialsCommand(['worker', '--agents', 'code_review', '--name', 'cr'], {
  env: { DATA_DIR: dir },
  out: (text) => minted.push(text),
  err: (text) => minted.push(text),
});
if (code !== 0) throw new Error(`bus:credentials failed: ${minted.join('')}`);
const USER = 'worker-cr';
// As npm start runs it: the store directory in the configuration, so that a reload works.
const storeDir = join(dir, 'nats');
const conf = writeComposedConf(dir, join(ROOT, 'nats.conf'), storeDir);
const nats = await startNatsServer({
  binary: findNatsServer() ?? 'nats-server',
  port: -1,
  configFile: conf.file,
  storeDir,
  storeDirInConfig: conf.storeDirInConfig,
  env: { ...process.env, ...roles.serverEnv },
});
const ollama = await startFakeOllama();
const opened: NatsConnection[] = [];
const processes: TestProcess[] = [];
t.teardown(async () => {
  for (const p of processes.reverse()) await p.stop();
  for (const nc of opened) await nc.close().catch(() => undefined);
  await ollama.close();
  await nats.stop();
  rmSync(dir, { recursive: true, force: true });
});

const base = {
  NATS_URL: nats.url,
  OLLAMA_URL: ollama.url,
  DATA_DIR: join(dir, 'data'),
  LOG_DIR: join(dir, 'logs'),
  API_KEYS: 'bus-key',
  CACHE_TTL_SECONDS: '30',
  NATS_USER: '',
  NATS_PASSWORD: '',
  NATS_PASSWORD_FILE: '',
};
const setup = await runScriptToExit(
  'scripts/bus-setup.ts',
  [],
  { ...base, NATS_USER: 'admin', NATS_PASSWORD_FILE: passwordFileOf(dir, 'admin') },
  { teardown: t },
);
if (setup.code !== 0) throw new Error(`bus:setup failed: ${setup.stderr}`);

/** A raw connection as `user` (a role, or the scoped worker), with the inbox prefix its processes use. */
async function as(user: string, inboxPrefix: string): Promise<NatsConnection> {
  const file = user === USER ? workerPasswordFile(dir, USER) : passwordFileOf(dir, user as 'gateway');
  const pass = readFileSync(file, 'utf8').trim();
  const nc = await connect({ servers: nats.url, user, pass, inboxPrefix });
  opened.push(nc);
  return nc;
}
const scoped = await as(USER, `_INBOX.worker.${USER}`);
const gateway = await as('gateway', '_INBOX.gateway');

/** Resolves with the error the server closed the subscription with, or 'open' after 1.5 s. */
async function subscription(nc: NatsConnection, subject: string, queue?: string): Promise<string> {
  const sub = nc.subscribe(subject, queue === undefined ? {} : { queue });
  await nc.flush();
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    sub.closed.then((err) => String(err)),
    new Promise<string>((resolve) => {
      timer = setTimeout(() => resolve('open'), 1500);
    }),
  ]);
  clearTimeout(timer);
  sub.unsubscribe();
  return outcome;
}

t.test('the command prints the user and its password file, never the password', async (t) => {
  const output = minted.join('');
  t.match(output, /bus user worker-cr: a worker of code_review only/);
  t.match(output, /NATS_USER=worker-cr NATS_PASSWORD_FILE=/);
  t.notMatch(output, readFileSync(workerPasswordFile(dir, USER), 'utf8').trim());
});

t.test('it joins only its agent’s queue group, never without one', async (t) => {
  t.equal(await subscription(scoped, 'agents.code_review.chat', 'code_review'), 'open', 'its own queue group');
  for (const [subject, queue] of [
    ['agents.code_review.chat', undefined],
    ['agents.code_review.chat', 'eavesdrop'],
    ['agents.testing.chat', 'testing'],
    ['agents.testing.chat', undefined],
    ['agents.*.chat', 'code_review'],
    ['agents.>', undefined],
    ['agents.testing.cancel', undefined],
    ['_INBOX.worker.>', undefined],
    ['_INBOX.gateway.>', undefined],
  ] as const) {
    const outcome = await subscription(scoped, subject, queue);
    t.match(outcome, /permissions violation/i, `subscribe ${subject} (queue ${queue ?? 'none'}) refused`);
  }
  t.equal(await subscription(scoped, 'agents.code_review.cancel'), 'open', 'its agent’s cancels');
  t.equal(await subscription(scoped, 'agents.memory.last', 'memory'), 'open', 'memory queries, in their group');
  t.equal(await subscription(scoped, 'agents.memory.response', 'memory'), 'open', 'stored-response queries too');
  t.equal(await subscription(scoped, 'agents.memory.commit', 'memory'), 'open', 'and commits of delivered turns');
  t.equal(await subscription(scoped, `_INBOX.worker.${USER}.x`), 'open', 'its own inboxes');
});

t.test('it cannot publish frames into another agent’s inboxes, or the gateway’s others', async (t) => {
  const seen: string[] = [];
  const sub = gateway.subscribe('_INBOX.gateway.>', { callback: (_err, msg) => void seen.push(msg.subject) });
  await gateway.flush();
  for (const subject of ['_INBOX.gateway.chat.testing.abc', '_INBOX.gateway.abc', '_INBOX.replay.chat.testing.x']) {
    const violation = nextViolation(scoped);
    scoped.publish(subject, '{"type":"ack","seq":0}');
    t.equal((await violation)?.subject, subject, `publish to ${subject} refused`);
  }
  scoped.publish('_INBOX.gateway.chat.code_review.abc', 'frame');
  await scoped.flush();
  await gateway.flush();
  t.same(seen, ['_INBOX.gateway.chat.code_review.abc'], 'only its agent’s inbox received a frame');
  sub.unsubscribe();
});

t.test('it reads and writes only its agent’s response cache keys', async (t) => {
  // The all-agents worker user (npm start's own worker) plants an entry for each agent.
  const full = await as('worker', '_INBOX.worker');
  // As the workers read it (the bucket allows direct gets; Kvm.open alone would use MSG.GET).
  const shared = await new Kvm(full).open('agentbus_responses', { allow_direct: true });
  await shared.put('testing.aaaa', 'testing answer');
  await shared.put('code_review.bbbb', 'code_review answer');

  const kv = await new Kvm(scoped).open('agentbus_responses', { allow_direct: true });
  t.equal((await kv.get('code_review.bbbb'))?.string(), 'code_review answer', 'its own agent’s key');
  await kv.put('code_review.cccc', 'mine');
  t.equal((await shared.get('code_review.cccc'))?.string(), 'mine', 'and writes it');
  const read = await kv.get('testing.aaaa').then(
    (entry) => entry?.string() ?? 'missing',
    (err: unknown) => String(err),
  );
  t.match(read, /permissions violation|timeout/i, `another agent’s key is refused: ${read}`);
  const planted = await kv.put('testing.aaaa', 'planted').then(
    () => 'stored',
    (err: unknown) => String(err),
  );
  t.match(planted, /permissions violation|timeout/i, 'planting an entry for another agent is refused');
  t.equal((await shared.get('testing.aaaa'))?.string(), 'testing answer', 'the entry is unchanged');

  const jsm = await jetstreamManager(scoped, { timeout: 2000 });
  const byMsgGet = await jsm.streams
    .getMessage('KV_agentbus_responses', { last_by_subj: '$KV.agentbus_responses.testing.aaaa' })
    .then(
      () => 'read',
      (err: unknown) => String(err),
    );
  t.match(byMsgGet, /permissions violation|timeout/i, 'MSG.GET, which names any key in its body, is refused');
});

t.test('a worker process with the scoped credential serves its agent end to end', async (t) => {
  const worker = await startWorkerProcess(
    { ...base, NATS_USER: USER, NATS_PASSWORD_FILE: workerPasswordFile(dir, USER) },
    ['code_review'],
  );
  processes.push(worker);
  const gw = await startGatewayProcess({
    ...base,
    NATS_USER: 'gateway',
    NATS_PASSWORD_FILE: passwordFileOf(dir, 'gateway'),
  });
  processes.push(gw);
  const url = String(gw.ready['url']);
  const headers = { authorization: 'Bearer bus-key', 'content-type': 'application/json' };
  const ask = (model: string) =>
    fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers,
      // temperature 0: a deterministic request, which the response cache serves (CACHE_MODE).
      body: JSON.stringify({
        model,
        temperature: 0,
        messages: [{ role: 'user', content: 'review over a scoped bus' }],
      }),
    });
  const first = await ask('code_review');
  const answer = (await first.json()) as {
    id: string;
    conversation_id: string;
    choices: Array<{ message: { content: string } }>;
  };
  t.equal(first.status, 200, JSON.stringify(answer));
  t.ok(answer.choices[0]!.message.content.length > 0, 'the answer came back on the agent’s inbox');
  // The worker writes the cache once the turn is committed, on the gateway's receipt: after the
  // client had its answer, so the next identical request may come first.
  await waitFor('the answer to be cached', async () => {
    const again = await ask('code_review');
    await again.arrayBuffer();
    return again.headers.get('x-cache') === 'HIT';
  });
  t.pass('cached under its agent’s keys');
  const memory = await fetch(`${url}/memory/last?session=${encodeURIComponent(answer.conversation_id)}`, {
    headers,
  });
  t.equal(memory.status, 200, 'memory queries are answered');
  await memory.arrayBuffer();
  // Only a Responses id is a stored response (a chat completion's id is 404 there).
  const created = await fetch(`${url}/v1/responses`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ model: 'code_review', input: 'store this over a scoped bus' }),
  });
  const response = (await created.json()) as { id: string };
  t.equal(created.status, 200, JSON.stringify(response));
  const stored = await fetch(`${url}/v1/responses/${encodeURIComponent(response.id)}`, { headers });
  t.equal(stored.status, 200, 'stored-response queries are answered');
  await stored.arrayBuffer();
  const ready = await fetch(`${url}/ready`);
  t.equal(ready.status, 200, 'the gateway reads its $SRV.INFO/STATS');
  await ready.arrayBuffer();
  const other = await ask('testing');
  t.equal(other.status, 503, 'nobody serves another agent');
  await other.arrayBuffer();
  t.notMatch(worker.output(), /Permissions Violation/i, 'the scoped worker trips no permission');
  t.notMatch(gw.output(), /Permissions Violation/i, 'nor does the gateway');
});

t.test('a credential minted while npm start’s server runs works at once: the server reloads', async (t) => {
  // What npm start records about its nats-server; the command finds the server by it.
  writeNatsRecord(dir, { port: nats.port, storeDir, pid: nats.process.pid! });
  const out: string[] = [];
  const made = runBusCredentialsCommand(['worker', '--agents', 'testing', '--name', 'late'], {
    env: { DATA_DIR: dir },
    out: (text) => out.push(text),
    err: (text) => out.push(text),
  });
  t.equal(made, 0, out.join(''));
  t.match(out.join(''), new RegExp(`nats-server \\(pid ${nats.process.pid}\\) reloaded its configuration`));
  const pass = readFileSync(workerPasswordFile(dir, 'worker-late'), 'utf8').trim();
  let late: NatsConnection | undefined;
  for (let i = 0; i < 50 && !late; i++) {
    late = await connect({
      servers: nats.url,
      user: 'worker-late',
      pass,
      inboxPrefix: '_INBOX.worker.worker-late',
    }).catch(async () => {
      await new Promise((resolve) => setTimeout(resolve, 100));
      return undefined;
    });
  }
  t.ok(late, 'the new user connects without a server restart');
  if (!late) return;
  opened.push(late);
  t.equal(await subscription(late, 'agents.testing.chat', 'testing'), 'open', 'with its grants');
  t.match(await subscription(late, 'agents.code_review.chat', 'code_review'), /permissions violation/i);
  t.notOk(scoped.isClosed(), 'connections made before the reload stay');
});
