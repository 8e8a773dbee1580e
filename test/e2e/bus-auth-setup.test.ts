import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { connect, createInbox, type NatsConnection } from '@nats-io/transport-node';
import { connectBus, type Bus } from '../../common/bus.js';
import t from 'tap';
import { createLogger } from '../../common/logger.js';
import { BusSetupNeededError } from '../../common/jetstream-resources.js';
import { readNatsClientSettings, type BusRole } from '../../common/nats-client.js';
import { readEnv } from '../../common/env.js';
import { ensureAuditStream } from '../../gateway/audit/audit-stream.js';
import { findEnvelopes } from '../../gateway/audit/audit-lookup.js';
import { askWorkers } from '../../gateway/bus/ask-workers.js';
import { queryLastTurns } from '../../gateway/bus/memory-query.js';
import { openRateLimitBucket } from '../../gateway/rate-limit/rate-limit-bucket.js';
import { setUpBus } from '../../scripts/lib/bus-setup.js';
import { ROOT } from '../../scripts/lib/child-process.js';
import { passwordFileOf } from '../../scripts/lib/nats-credentials.js';
import { openResponseCache } from '../../workers/cache/response-cache.js';
import { nextViolation, startLockedBus } from '../helpers/locked-bus.js';
import { LogSink } from '../helpers/stack.js';

// The locked-down bus of the repo's nats.conf: streams and buckets are the admin user's
// (npm run bus:setup); the runtime users only use them, so none can widen a stream to capture
// others' traffic. Reply inboxes are random, and workers may answer only gateway/replay inboxes.

const { dir, url, opened } = await startLockedBus(t, 'bus-setup');
const nats = { url };

const auditSettings = { enabled: true, maxAgeSeconds: 3600, maxBytes: 16 * 1024 * 1024 };
const setupSettings = {
  subjectPrefix: 'agents',
  audit: auditSettings,
  cacheTtlSeconds: 30,
  rateLimitBucket: 'agentbus_rate_limits',
};

const settingsOf = (role: BusRole) =>
  readNatsClientSettings(readEnv({ NATS_USER: role, NATS_PASSWORD_FILE: passwordFileOf(dir, role) }), role, nats.url);

/** A Bus as `role`, as the processes make it; `sink` gets its log lines. */
async function as(role: BusRole, sink = new LogSink()): Promise<Bus> {
  const log = createLogger(role, { destination: sink });
  const bus = await connectBus({ url: nats.url, role, name: `test-${role}`, log, client: settingsOf(role) });
  opened.push(bus);
  return bus;
}

/** A plain nats.js client as `role`: what an attacker holding that credential could run. */
async function rawAs(role: BusRole): Promise<NatsConnection> {
  const settings = settingsOf(role);
  const nc = await connect({
    servers: nats.url,
    user: role,
    pass: settings.password,
    inboxPrefix: settings.inboxPrefix,
  });
  opened.push(nc);
  return nc;
}

const text = (data: Uint8Array) => new TextDecoder().decode(data);
const bytes = (value: string) => new TextEncoder().encode(value);

const refused = (promise: Promise<unknown>) =>
  promise.then(
    () => 'allowed',
    (err: Error) => String(err),
  );

t.test(
  'before the setup: runtime users may not create the streams, and each says to run npm run bus:setup',
  async (t) => {
    const gatewaySink = new LogSink();
    const gateway = await as('gateway', gatewaySink);
    const name = await ensureAuditStream({
      bus: gateway,
      subjectPrefix: 'agents',
      settings: auditSettings,
      log: createLogger('audit', { destination: gatewaySink }),
    });
    t.equal(name, undefined, 'audit is off');
    t.match(
      gatewaySink.lines.find((l) => /audit stream/.test(String(l['msg'])))?.['msg'],
      /cannot set up the audit stream AGENTBUS_AUDIT .*may not create it.*npm run bus:setup/,
    );
    const bucket = await openRateLimitBucket(gateway, 'agentbus_rate_limits', 2000).catch((err: unknown) => err);
    t.ok(bucket instanceof BusSetupNeededError, 'the rate limit bucket cannot be created by the gateway');
    t.match(String(bucket), /"agentbus_rate_limits" does not exist .*npm run bus:setup/);

    const workerSink = new LogSink();
    const worker = await as('worker', workerSink);
    const cache = await openResponseCache({
      bus: worker,
      ttlSeconds: 30,
      log: createLogger('cache', { destination: workerSink }),
    });
    t.equal(await cache.get('k'), undefined, 'the cache misses');
    t.match(
      workerSink.lines.find((l) => l['reason'] === 'open_failed')?.['msg'],
      /cannot open the response cache bucket \(.*"agentbus_responses" does not exist.*npm run bus:setup/,
    );
    for (const line of [...gatewaySink.lines, ...workerSink.lines]) {
      t.notMatch(String(line['msg']), /NATS refused a publish/, 'the create attempt is not logged as a broken grant');
    }

    const setupAsGateway = await refused(setUpBus(gateway, setupSettings, () => undefined));
    t.match(setupAsGateway, /cannot set up the audit stream AGENTBUS_AUDIT/, 'the setup needs the admin user');
  },
);

t.test('npm run bus:setup as admin creates the stream and buckets; the runtime users then use them', async (t) => {
  const admin = await as('admin');
  const said: string[] = [];
  await setUpBus(admin, setupSettings, (line) => said.push(line));
  t.same(said, [
    `JetStream replicas 1: the NATS server ${admin.server?.name} is not in a cluster (its INFO names none)`,
    'audit stream AGENTBUS_AUDIT created',
    'response cache bucket agentbus_responses ready (TTL 30 s)',
    'rate limit bucket agentbus_rate_limits ready',
  ]);
  const again: string[] = [];
  await setUpBus(admin, { ...setupSettings, cacheTtlSeconds: 60 }, (line) => again.push(line));
  t.same(
    again,
    [
      `JetStream replicas 1: the NATS server ${admin.server?.name} is not in a cluster (its INFO names none)`,
      'audit stream AGENTBUS_AUDIT unchanged',
      'response cache bucket agentbus_responses ready (TTL 60 s, changed from 30 s)',
      'rate limit bucket agentbus_rate_limits ready',
    ],
    'a second run applies changed settings',
  );

  const gatewaySink = new LogSink();
  const gateway = await as('gateway', gatewaySink);
  t.equal(
    await ensureAuditStream({
      bus: gateway,
      subjectPrefix: 'agents',
      settings: auditSettings,
      log: createLogger('audit', { destination: gatewaySink }),
    }),
    'AGENTBUS_AUDIT',
  );
  const limits = await openRateLimitBucket(gateway, 'agentbus_rate_limits', 2000);
  await limits.put('t.x', '1');
  t.equal((await limits.get('t.x'))?.string(), '1', 'the gateway reads and writes the rate limit bucket');
  // Other limits than the stream has: used as it is, with a warning naming the setup.
  t.equal(
    await ensureAuditStream({
      bus: gateway,
      subjectPrefix: 'agents',
      settings: { ...auditSettings, maxAgeSeconds: 60 },
      log: createLogger('audit', { destination: gatewaySink }),
    }),
    'AGENTBUS_AUDIT',
  );
  t.ok(
    gatewaySink.lines.some((l) =>
      /other subjects or limits than configured .*may not change it.*npm run bus:setup/.test(String(l['msg'])),
    ),
    'the difference is a warning naming the setup',
  );

  const workerSink = new LogSink();
  const worker = await as('worker', workerSink);
  const cache = await openResponseCache({
    bus: worker,
    ttlSeconds: 60,
    log: createLogger('cache', { destination: workerSink }),
  });
  await cache.put('k', {
    content: 'cached',
    finish_reason: 'stop',
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
    model: 'm',
    stored_at: Date.now(),
  });
  t.equal((await cache.get('k'))?.content, 'cached', 'the worker reads and writes the cache bucket');
  const otherTtl = await openResponseCache({
    bus: worker,
    ttlSeconds: 10,
    log: createLogger('cache', { destination: workerSink }),
  });
  t.ok(otherTtl.enabled);
  t.ok(
    workerSink.lines.some((l) =>
      /keeps entries for 60 s, not 10 s, and could not be changed.*may not change it.*npm run bus:setup/.test(
        String(l['msg']),
      ),
    ),
    'a TTL the worker may not apply is a warning naming the setup',
  );
});

t.test('the worker cannot widen the cache bucket (or make a stream) to capture the gateway inboxes', async (t) => {
  const worker = await as('worker');
  const jsm = await worker.jetstreamManager();
  const info = await jsm.streams.info('KV_agentbus_responses');
  const update = await refused(
    jsm.streams.update('KV_agentbus_responses', {
      ...info.config,
      subjects: [...info.config.subjects, '_INBOX.gateway.>', 'agents.cancel', 'agents.memory.last'],
    }),
  );
  t.match(update, /permissions violation/i, 'STREAM.UPDATE of the cache bucket is refused');
  const create = await refused(
    jsm.streams.add({
      name: 'KV_agentbus_responses',
      subjects: ['_INBOX.gateway.>'],
      retention: RetentionPolicy.Limits,
      storage: StorageType.Memory,
    }),
  );
  t.match(create, /permissions violation/i, 'STREAM.CREATE is refused');
  const other = await refused(jsm.streams.add({ name: 'CAPTURE', subjects: ['_INBOX.gateway.>'] }));
  t.match(other, /permissions violation/i, 'and so is any other stream');
  t.same(
    (await jsm.streams.info('KV_agentbus_responses')).config.subjects,
    info.config.subjects,
    'the bucket captures only its own keys',
  );
  t.match(await refused(jsm.streams.purge('KV_agentbus_responses')), /permissions violation/i, 'nor purged');
  t.match(await refused(jsm.streams.delete('KV_agentbus_responses')), /permissions violation/i, 'nor deleted');
});

t.test('the gateway cannot widen the audit stream or the rate limit bucket', async (t) => {
  const gateway = await as('gateway');
  const jsm = await gateway.jetstreamManager();
  for (const name of ['AGENTBUS_AUDIT', 'KV_agentbus_rate_limits']) {
    const info = await jsm.streams.info(name);
    t.match(
      await refused(
        jsm.streams.update(name, {
          ...info.config,
          subjects: [...info.config.subjects, '_INBOX.replay.>', 'agents.memory.last'],
        }),
      ),
      /permissions violation/i,
      `STREAM.UPDATE of ${name} is refused`,
    );
    t.same((await jsm.streams.info(name)).config.subjects, info.config.subjects);
    t.match(await refused(jsm.streams.delete(name)), /permissions violation/i, `${name} cannot be deleted`);
  }
  t.match(
    await refused(jsm.streams.add({ name: 'CAPTURE', subjects: ['_INBOX.worker.>'] })),
    /permissions violation/i,
    'no new stream either',
  );
});

t.test('reply inboxes are random: no shared prefix past the role, no sequence', async (t) => {
  const gateway = await as('gateway');
  const inboxes = Array.from({ length: 100 }, () => gateway.newInbox());
  t.equal(new Set(inboxes).size, 100);
  for (const inbox of inboxes) t.match(inbox, /^_INBOX\.gateway\.[A-Za-z0-9_-]{22}$/, '128 random bits, base64url');
  const longestShared = (a: string, b: string) => {
    let i = 0;
    while (i < a.length && a[i] === b[i]) i++;
    return i;
  };
  const prefix = '_INBOX.gateway.'.length;
  let most = 0;
  for (let i = 0; i < inboxes.length; i++)
    for (let j = i + 1; j < inboxes.length; j++)
      most = Math.max(most, longestShared(inboxes[i]!, inboxes[j]!) - prefix);
  // Random tokens: 4950 pairs share 5 base64url characters with a chance of about 5 in a million.
  t.ok(most <= 4, `no two inboxes share more than the role prefix and a few characters (most: ${most})`);
  const nuids = Array.from({ length: 2 }, () => createInbox('_INBOX.gateway'));
  t.ok(
    longestShared(nuids[0]!, nuids[1]!) - prefix >= 12,
    "(nats.js's createInbox, for contrast: a nuid's fixed 12-character prefix)",
  );
});

t.test('memory queries and $SRV asks reach the worker on random inboxes, which it may answer', async (t) => {
  const gateway = await as('gateway');
  const worker = await rawAs('worker');
  const seen: string[] = [];
  const memory = worker.subscribe('agents.memory.last', {
    callback: (_err, msg) => {
      seen.push(msg.reply!);
      msg.respond(
        JSON.stringify({
          type: 'error',
          request_id: 'r',
          error: { code: 'session_not_found', message: 'no such session', retryable: false },
        }),
      );
    },
  });
  const srv = worker.subscribe('$SRV.INFO.agentbus-worker', {
    callback: (_err, msg) => {
      seen.push(msg.reply!);
      msg.respond(
        JSON.stringify({
          type: 'io.nats.micro.v1.info_response',
          name: 'agentbus-worker',
          id: 'w1',
          version: '0.1.0',
          endpoints: [],
        }),
      );
    },
  });
  await worker.flush();
  for (let i = 0; i < 2; i++) {
    const failure = await queryLastTurns(gateway, { request_id: `r${i}`, session_id: 's' } as never, {
      subject: 'agents.memory.last',
      timeoutMs: 2000,
    }).catch((err: Error & { code?: string }) => err.code);
    t.equal(failure, 'session_not_found', "the worker's answer comes back");
    const asked = await askWorkers(gateway, 'info', { timeoutMs: 2000, stallMs: 100 });
    t.equal(asked.found.length, 1, 'the $SRV answer comes back');
    t.equal(asked.error, undefined);
  }
  t.equal(seen.length, 4);
  for (const reply of seen)
    // A memory query's reply comes through the gateway's one memory subscription (common/reply-mux.ts):
    // its random prefix, then the request's own random token.
    t.match(
      reply,
      /^_INBOX\.gateway\.(memory|srv)\.[A-Za-z0-9_-]{22}(\.[A-Za-z0-9_-]{22})?$/,
      `random reply inbox ${reply}`,
    );
  memory.unsubscribe();
  srv.unsubscribe();
  const none = await askWorkers(gateway, 'stats', { timeoutMs: 2000 });
  t.same(none, { found: [] }, 'no worker: an empty answer (no responders), at once');
});

t.test('a worker may publish only to gateway and replay inboxes', async (t) => {
  const worker = await rawAs('worker');
  for (const subject of ['_INBOX.worker.x', '_INBOX.admin.x', '_INBOX.abc', '_INBOX.gatewayx.y']) {
    const violation = nextViolation(worker);
    worker.publish(subject, 'forged frame');
    t.equal((await violation)?.subject, subject, `publish to ${subject} refused`);
  }
  const gateway = await as('gateway');
  const replay = await as('replay');
  for (const [nc, role] of [
    [gateway, 'gateway'],
    [replay, 'replay'],
  ] as const) {
    const inbox = nc.newInbox();
    const got = new Promise<string>((resolve) =>
      nc.subscribe(inbox, { callback: (_err, msg) => resolve(text(msg.data)) }),
    );
    await nc.flush();
    worker.publish(inbox, 'frame');
    t.equal(await got, 'frame', `a ${role} inbox gets the worker's frame`);
  }
});

t.test('the replay user reads the audit stream without consumers, and may not create one', async (t) => {
  const gateway = await as('gateway');
  for (let i = 0; i < 3; i++)
    gateway.publish(
      'agents.audit.testing.chat',
      bytes(JSON.stringify({ request_id: i === 1 ? 'wanted' : `other-${i}` })),
    );
  await gateway.flush();
  const replay = await as('replay');
  const jsm = await replay.jetstreamManager();
  const found = await findEnvelopes(jsm, 'AGENTBUS_AUDIT', 'wanted');
  t.same(
    found.exact.map((e) => e.requestId),
    ['wanted'],
    'found by MSG.GET alone',
  );
  t.equal(found.scanned, 3);
  t.ok(found.complete);
  for (const config of [
    { deliver_subject: 'agents.cancel' },
    { deliver_subject: '_INBOX.gateway.x' },
    { durable_name: 'pull' },
    {},
  ]) {
    t.match(
      await refused(jsm.consumers.add('AGENTBUS_AUDIT', config)),
      /permissions violation/i,
      `consumer ${JSON.stringify(config)} refused`,
    );
  }
  const ordered = await refused(
    (async () => {
      const consumer = await jsm.jetstream().consumers.get('AGENTBUS_AUDIT');
      await consumer.next({ expires: 1000 });
    })(),
  );
  t.not(ordered, 'allowed', 'nor an ordered consumer');

  const admin = await as('admin');
  const view = await (await admin.jetstreamManager()).jetstream().consumers.get('AGENTBUS_AUDIT');
  t.equal((await view.next({ expires: 2000 }))?.seq, 1, 'the admin user may (nats stream view)');
});

t.test('nats.conf no longer grants stream creation to any runtime user', async (t) => {
  const conf = readFileSync(join(ROOT, 'nats.conf'), 'utf8');
  const users = conf.split(/\n\s*\{\s*\n/).filter((block) => /user: (gateway|worker|replay)\b/.test(block));
  t.equal(users.length, 3);
  for (const block of users) {
    t.notMatch(
      block,
      /STREAM\.(CREATE|UPDATE|DELETE|PURGE)|CONSUMER\./,
      `${/user: (\w+)/.exec(block)![1]}: no create/update/delete/purge/consumer grants`,
    );
  }
  t.notMatch(conf, /"_INBOX\.>"/, 'nobody may publish to every inbox');
});
