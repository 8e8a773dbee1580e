import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import t from 'tap';
import { ConfigError, readEnv } from '../../common/env.js';
import { createLogger } from '../../common/logger.js';
import { connectBus, isAuthorizationError, type Bus } from '../../common/bus.js';
import { inboxPrefixOf, readNatsClientSettings, type BusRole } from '../../common/nats-client.js';
import { loadGatewayConfig } from '../../gateway/config.js';
import { ensureAuditStream, setUpAuditStream } from '../../gateway/audit/audit-stream.js';
import { ROOT } from '../../scripts/lib/child-process.js';
import { ensureBusCredentials, passwordFileOf } from '../../scripts/lib/nats-credentials.js';
import { loadWorkerConfig } from '../../workers/config.js';
import { nextViolation, startLockedBus } from '../helpers/locked-bus.js';
import { LogSink } from '../helpers/stack.js';

// The repo's nats.conf as shipped, with the passwords of ensureBusCredentials in the server's
// environment: what `npm start` runs.
const bus = await startLockedBus(t, 'bus-auth');
const { dir, opened } = bus;
const nats = { url: bus.url };

const passwordOf = (role: BusRole) => readFileSync(passwordFileOf(dir, role), 'utf8').trim();

/** A connection as `role`, with its own inbox prefix, as the processes make it. */
async function as(role: BusRole): Promise<NatsConnection> {
  const nc = await connect({ servers: nats.url, user: role, pass: passwordOf(role), inboxPrefix: inboxPrefixOf(role) });
  opened.push(nc);
  return nc;
}

/** A Bus as `role`, as the processes make it, for calls into our own code. */
async function busAs(role: BusRole): Promise<Bus> {
  const client = readNatsClientSettings(readEnv({ NATS_USER: role, NATS_PASSWORD: passwordOf(role) }), role, nats.url);
  const connected = await connectBus({ url: nats.url, role, name: `test-${role}`, log: createLogger('off'), client });
  opened.push(connected);
  return connected;
}

/**
 * Subscribes and resolves with the error the server closed the subscription with, or undefined
 * if it stayed open for 10 s: every caller expects a refusal, so the bound is a failure.
 */
async function subscribeRefusal(nc: NatsConnection, subject: string): Promise<Error | undefined> {
  const sub = nc.subscribe(subject);
  await nc.flush();
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    sub.closed,
    new Promise<'open'>((resolve) => {
      timer = setTimeout(() => resolve('open'), 10_000);
    }),
  ]);
  clearTimeout(timer);
  if (outcome === 'open') {
    sub.unsubscribe();
    return undefined;
  }
  return outcome instanceof Error ? outcome : undefined;
}

t.test('the passwords are generated once, 0600 in a 0700 directory, and reused', async (t) => {
  const again = ensureBusCredentials(dir);
  t.same(again.serverEnv, bus.serverEnv, 'a second start reuses the same passwords');
  t.same(Object.keys(bus.serverEnv).sort(), [
    'AGENTBUS_NATS_ADMIN_PASSWORD',
    'AGENTBUS_NATS_GATEWAY_PASSWORD',
    'AGENTBUS_NATS_REPLAY_PASSWORD',
    'AGENTBUS_NATS_WORKER_PASSWORD',
  ]);
  t.equal(new Set(Object.values(bus.serverEnv)).size, 4, 'one password per role');
  for (const value of Object.values(bus.serverEnv)) t.ok(value.length >= 40, 'long random passwords');
  // nats-server parses a variable's value like a config value: one starting with a digit is read as a number.
  for (const value of Object.values(bus.serverEnv)) t.match(value, /^[A-Za-z]/, 'starting with a letter');
  for (const role of ['gateway', 'worker', 'replay', 'admin'] as const)
    t.equal(statSync(passwordFileOf(dir, role)).mode & 0o777, 0o600);
  t.equal(statSync(join(dir, 'nats-credentials')).mode & 0o777, 0o700);
  t.notMatch(
    readFileSync(join(ROOT, 'nats.conf'), 'utf8'),
    /password:\s*(?!\$AGENTBUS_NATS_[A-Z]+_PASSWORD)\S/,
    'nats.conf holds no literal password',
  );
});

t.test('a client without credentials, or with a wrong password, is refused', async (t) => {
  const anonymous = await connect({ servers: nats.url }).then(
    () => 'connected',
    (err: unknown) => err,
  );
  t.ok(isAuthorizationError(anonymous), `no credentials: ${String(anonymous)}`);
  const wrong = await connect({ servers: nats.url, user: 'worker', pass: 'not-the-password' }).then(
    () => 'connected',
    (err: unknown) => err,
  );
  t.ok(isAuthorizationError(wrong), `wrong password: ${String(wrong)}`);
  const swapped = await connect({ servers: nats.url, user: 'worker', pass: passwordOf('gateway') }).then(
    () => 'connected',
    (err: unknown) => err,
  );
  t.ok(isAuthorizationError(swapped), "the gateway's password is not the worker's");

  const failure = await connectBus({
    url: nats.url,
    role: 'worker',
    name: 'agentbus-worker',
    log: createLogger('off', { destination: new LogSink() }),
    client: loadWorkerConfig({ NATS_URL: nats.url }).nats,
  }).catch((err: Error) => err);
  t.match(
    (failure as Error).message,
    /refused the connection \(Authorization Violation\): no credentials were given: set NATS_USER and NATS_PASSWORD \(or NATS_PASSWORD_FILE\)/,
    'connectBus names the variables to set',
  );
  const refused = await connectBus({
    url: nats.url,
    role: 'worker',
    name: 'agentbus-worker',
    log: createLogger('off', { destination: new LogSink() }),
    client: loadWorkerConfig({ NATS_URL: nats.url, NATS_USER: 'worker', NATS_PASSWORD: 'nope' }).nats,
  }).catch((err: Error) => err);
  t.match((refused as Error).message, /user "worker" \(NATS_USER\) with the password from NATS_PASSWORD was refused/);
  t.notMatch((refused as Error).message, /nope/, 'the password is not in the message');
});

t.test('each role connects with its password file, through the config readers', async (t) => {
  const sink = new LogSink();
  const config = loadGatewayConfig({
    NATS_URL: nats.url,
    NATS_USER: 'gateway',
    NATS_PASSWORD_FILE: passwordFileOf(dir, 'gateway'),
  });
  t.equal(config.nats.user, 'gateway');
  t.equal(config.nats.inboxPrefix, '_INBOX.gateway');
  t.notMatch(JSON.stringify(config), passwordOf('gateway'), 'the password is left out of a serialised config');
  const gateway = await connectBus({
    url: nats.url,
    role: 'gateway',
    name: 'agentbus-gateway',
    log: createLogger('gw', { destination: sink }),
    client: config.nats,
  });
  opened.push(gateway);
  t.ok(gateway.connected, 'connected');
  t.match(gateway.newInbox(), /^_INBOX\.gateway\./, "its inboxes are the role's");
});

t.test('credential settings are checked at boot, each problem naming its variable', async (t) => {
  const problems = (env: Record<string, string>) => {
    try {
      loadWorkerConfig(env);
      return [];
    } catch (err) {
      return (err as ConfigError).problems;
    }
  };
  t.match(problems({ NATS_PASSWORD: 'x' }), [/NATS_PASSWORD is set but NATS_USER is not/]);
  t.match(problems({ NATS_USER: 'worker' }), [/NATS_USER="worker" needs a password/]);
  t.match(problems({ NATS_USER: 'worker', NATS_PASSWORD: 'x', NATS_PASSWORD_FILE: '/x' }), [
    /NATS_PASSWORD or NATS_PASSWORD_FILE, not both/,
  ]);
  t.match(problems({ NATS_USER: 'worker', NATS_PASSWORD_FILE: join(dir, 'missing') }), [
    /NATS_PASSWORD_FILE=".*missing" cannot be read: ENOENT/,
  ]);
  t.match(problems({ NATS_URL: 'nats://worker:secret@127.0.0.1:4222' }), [
    /NATS_URL must not hold credentials \(it is logged\)/,
  ]);
  t.match(problems({ NATS_TLS_CA: join(dir, 'no-ca.pem') }), [/NATS_TLS_CA=".*no-ca.pem" cannot be read/]);
  const certOnly = join(dir, 'cert.pem');
  writeFileSync(certOnly, 'x');
  t.match(problems({ NATS_TLS_CERT: certOnly }), [/NATS_TLS_CERT and NATS_TLS_KEY go together/]);
  const withNewline = join(dir, 'pw');
  writeFileSync(withNewline, 'pass word\n');
  t.equal(
    loadWorkerConfig({ NATS_USER: 'worker', NATS_PASSWORD_FILE: withNewline }).nats.password,
    'pass word',
    "the file's last line break is not part of the password",
  );
});

t.test('a worker may serve agent subjects and answer on reply inboxes', async (t) => {
  const gateway = await as('gateway');
  const worker = await as('worker');
  const served = worker.subscribe('agents.testing.chat', {
    queue: 'testing',
    callback: (_err, msg) => {
      msg.respond('frame');
    },
  });
  const memory = worker.subscribe('agents.memory.last', {
    queue: 'memory',
    callback: (_err, msg) => {
      msg.respond('turns');
    },
  });
  const stored = worker.subscribe('agents.memory.response', {
    queue: 'memory',
    callback: (_err, msg) => {
      msg.respond('turn');
    },
  });
  const commit = worker.subscribe('agents.memory.commit', {
    queue: 'memory',
    callback: (_err, msg) => {
      msg.respond('');
    },
  });
  await worker.flush();
  const answer = await gateway.request('agents.testing.chat', 'envelope', { timeout: 2000 });
  t.equal(answer.string(), 'frame', 'request on the chat subject, answer on the gateway inbox');
  t.match(answer.subject, /^_INBOX\.gateway\./, 'the gateway listens under its own inbox prefix');
  t.equal((await gateway.request('agents.memory.last', '{}', { timeout: 2000 })).string(), 'turns');
  t.equal((await gateway.request('agents.memory.response', '{}', { timeout: 2000 })).string(), 'turn');
  t.equal((await gateway.request('agents.memory.commit', '{}', { timeout: 2000 })).string(), '', 'commit fallback');
  commit.unsubscribe();
  served.unsubscribe();
  memory.unsubscribe();
  stored.unsubscribe();
});

t.test('embed subjects: the gateway asks, a worker answers, neither the other way round', async (t) => {
  const gateway = await as('gateway');
  const worker = await as('worker');
  const served = worker.subscribe('agents.vectors.embed', {
    queue: 'vectors',
    callback: (_err, msg) => {
      msg.respond('vectors');
    },
  });
  await worker.flush();
  t.equal((await gateway.request('agents.vectors.embed', '{}', { timeout: 2000 })).string(), 'vectors');
  served.unsubscribe();
  t.match(String(await subscribeRefusal(gateway, 'agents.vectors.embed')), /permissions violation/i);
  const violation = nextViolation(worker);
  worker.publish('agents.vectors.embed', 'forged');
  t.equal((await violation)?.subject, 'agents.vectors.embed', 'a worker cannot ask another');
});

t.test('a worker cannot send requests to agents, nor read other replies', async (t) => {
  const worker = await as('worker');
  const violation = nextViolation(worker);
  worker.publish('agents.testing.chat', 'forged');
  const seen = await violation;
  t.equal(seen?.operation, 'publish');
  t.equal(seen?.subject, 'agents.testing.chat');
  for (const subject of ['_INBOX.>', '_INBOX.gateway.>', '_INBOX.replay.>', 'agents.audit.*.chat', '>']) {
    const refusal = await subscribeRefusal(worker, subject);
    t.match(String(refusal), /permissions violation/i, `subscribe ${subject} refused`);
  }
  const other = await as('worker');
  const publishAudit = nextViolation(other);
  other.publish('agents.audit.testing.chat', 'forged');
  t.equal((await publishAudit)?.subject, 'agents.audit.testing.chat', 'nor write into the audit trail');
});

t.test('the gateway cannot pose as a worker', async (t) => {
  const gateway = await as('gateway');
  for (const subject of [
    'agents.testing.chat',
    'agents.*.chat',
    'agents.memory.last',
    'agents.memory.response',
    'agents.memory.commit',
    'agents.testing.cancel',
    '$SRV.PING',
    '_INBOX.worker.>',
  ]) {
    const refusal = await subscribeRefusal(gateway, subject);
    t.match(String(refusal), /permissions violation/i, `subscribe ${subject} refused`);
  }
  const violation = nextViolation(gateway);
  gateway.publish('_INBOX.replay.x', 'forged frame');
  t.equal((await violation)?.subject, '_INBOX.replay.x', 'nor publish reply frames');
});

t.test('the replay user reads the audit stream and replays, but cannot change the stream', async (t) => {
  const settings = { enabled: true, maxAgeSeconds: 3600, maxBytes: 16 * 1024 * 1024 };
  t.equal(
    await setUpAuditStream(await busAs('admin'), 'agents', settings, 5000),
    'created',
    'the admin user creates the audit stream (npm run bus:setup)',
  );
  const gateway = await busAs('gateway');
  const name = await ensureAuditStream({
    bus: gateway,
    subjectPrefix: 'agents',
    settings,
    log: createLogger('off', { destination: new LogSink() }),
  });
  t.equal(name, 'AGENTBUS_AUDIT', 'the gateway user finds it');
  gateway.publish('agents.audit.testing.chat', new TextEncoder().encode('{"request_id":"r1"}'));
  await gateway.flush();

  const replay = await busAs('replay');
  const jsm = await replay.jetstreamManager();
  const info = await jsm.streams.info('AGENTBUS_AUDIT');
  t.equal(info.state.messages, 1, 'the replay user reads the stream');
  const stored = await jsm.streams.getMessage('AGENTBUS_AUDIT', { seq: 1 });
  t.equal(stored?.string(), '{"request_id":"r1"}');
  const deleted = await jsm.streams.delete('AGENTBUS_AUDIT').then(
    () => 'deleted',
    (err: unknown) => err,
  );
  t.not(deleted, 'deleted', 'cannot delete the stream');
  const purged = await jsm.streams.purge('AGENTBUS_AUDIT').then(
    () => 'purged',
    (err: unknown) => err,
  );
  t.not(purged, 'purged', 'cannot purge it');
  t.equal((await jsm.streams.info('AGENTBUS_AUDIT')).state.messages, 1, 'the envelope is still there');

  const worker = await as('worker');
  // A plain client of the replay user, whose permissions are what is tested here.
  const replayClient = await as('replay');
  const sub = worker.subscribe('agents.testing.chat', {
    callback: (_err, msg) => {
      msg.respond('again');
    },
  });
  await worker.flush();
  t.equal(
    (await replayClient.request('agents.testing.chat', 'envelope', { timeout: 2000 })).string(),
    'again',
    'replay publishes on chat subjects and gets the answer',
  );
  sub.unsubscribe();
  const violation = nextViolation(replayClient);
  replayClient.publish('agents.testing.cancel', '{}');
  t.equal((await violation)?.subject, 'agents.testing.cancel', 'but nothing else of the gateway');
});
