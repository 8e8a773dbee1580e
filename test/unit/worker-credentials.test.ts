import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { runBusCredentialsCommand } from '../../scripts/lib/bus-credentials-command.js';
import { composedConfFile, SCOPED_WORKERS_MARKER, writeComposedConf } from '../../scripts/lib/nats-server-conf.js';
import { ROOT } from '../../scripts/lib/child-process.js';
import { inboxPrefixOf } from '../../common/nats-client.js';
import {
  mintScopedWorker,
  readScopedWorkers,
  scopedWorkerPermissions,
  workerPasswordFile,
} from '../../scripts/lib/worker-credentials.js';

const names = { subjectPrefix: 'agents', cacheBucket: 'agentbus_responses' };

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-creds-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs `npm run bus:credentials -- …` in-process. */
function run(args: string[], env: NodeJS.ProcessEnv) {
  let out = '';
  let err = '';
  const code = runBusCredentialsCommand(args, {
    env,
    out: (text) => (out += text),
    err: (text) => (err += text),
  });
  return { code, out, err };
}

t.test('grants: queue groups, cancels, inboxes and cache keys of its agents only', async (t) => {
  const grants = scopedWorkerPermissions('worker-b', ['code_review', 'testing'], names);
  t.same(
    grants.subscribe.allow.filter((s) => s.startsWith('agents.')),
    [
      'agents.code_review.chat code_review',
      'agents.code_review.embed code_review',
      'agents.code_review.speech code_review',
      'agents.code_review.transcribe code_review',
      'agents.code_review.cancel',
      'agents.testing.chat testing',
      'agents.testing.embed testing',
      'agents.testing.speech testing',
      'agents.testing.transcribe testing',
      'agents.testing.cancel',
      'agents.memory.last memory',
      'agents.memory.response memory',
      'agents.memory.commit memory',
    ],
    'every chat, embed, speech and transcribe subject names its queue group: a plain subscription is refused',
  );
  t.ok(grants.subscribe.allow.includes('_INBOX.worker.worker-b.>'), 'inboxes of its own');
  t.notOk(grants.subscribe.allow.includes('_INBOX.worker.>'), "not other workers'");
  t.same(
    grants.publish.allow.filter((s) => s.startsWith('_INBOX.')),
    [
      '_INBOX.gateway.chat.code_review.>',
      '_INBOX.replay.chat.code_review.>',
      '_INBOX.gateway.chat.testing.>',
      '_INBOX.replay.chat.testing.>',
      '_INBOX.gateway.memory.>',
      '_INBOX.gateway.srv.>',
    ],
  );
  t.same(
    grants.publish.allow.filter((s) => s.startsWith('$')),
    [
      '$JS.API.INFO',
      '$JS.API.STREAM.INFO.KV_agentbus_responses',
      '$JS.API.DIRECT.GET.KV_agentbus_responses.$KV.agentbus_responses.code_review.>',
      '$KV.agentbus_responses.code_review.>',
      '$JS.API.DIRECT.GET.KV_agentbus_responses.$KV.agentbus_responses.testing.>',
      '$KV.agentbus_responses.testing.>',
    ],
    'no MSG.GET and no bare DIRECT.GET: both name the key in the body, where permissions do not look',
  );
  for (const subject of [...grants.publish.allow, ...grants.subscribe.allow])
    t.notMatch(subject, /^agents\.\*|^_INBOX\.(gateway|replay)\.>$/, `${subject} is not a wildcard over agents`);
  const prefixed = scopedWorkerPermissions('worker-b', ['testing'], { subjectPrefix: 'p.q', cacheBucket: 'c' });
  t.ok(prefixed.subscribe.allow.includes('p.q.testing.chat testing'), 'SUBJECT_PREFIX is followed');
  t.ok(prefixed.publish.allow.includes('$KV.c.testing.>'), 'and the bucket');
});

t.test('a scoped worker user has inboxes of its own; the roles keep theirs', async (t) => {
  t.equal(inboxPrefixOf('worker', 'worker-b'), '_INBOX.worker.worker-b');
  t.equal(inboxPrefixOf('worker', 'worker'), '_INBOX.worker');
  t.equal(inboxPrefixOf('worker'), '_INBOX.worker', 'no user: a server without authentication');
  t.equal(inboxPrefixOf('gateway', 'gateway'), '_INBOX.gateway');
  t.equal(inboxPrefixOf('worker', 'a.b'), '_INBOX.worker', 'not a subject token: the shared prefix (refused there)');
});

t.test('minting writes a 0600 password, the record and the nats.conf entry', async (t) => {
  const dir = tempDir(t);
  const minted = mintScopedWorker(dir, { agents: ['testing'], name: 'b', names, now: new Date(0) });
  t.equal(minted.worker.user, 'worker-b');
  const password = readFileSync(minted.passwordFile, 'utf8').trim();
  t.match(password, /^pw[A-Za-z0-9_-]{43}$/, 'long, random, starting with letters');
  t.equal(statSync(minted.passwordFile).mode & 0o777, 0o600);
  t.equal(statSync(minted.confFile).mode & 0o777, 0o600);
  t.equal(statSync(join(dir, 'nats-credentials')).mode & 0o777, 0o700);
  t.same(readScopedWorkers(dir), [minted.worker]);
  t.notMatch(JSON.stringify(readScopedWorkers(dir)), password, 'the record holds no password');
  const entry = JSON.parse(readFileSync(minted.confFile, 'utf8').replace(/^\s*#.*$/m, '')) as Record<string, unknown>;
  t.same(entry, { user: 'worker-b', password, permissions: minted.worker.permissions });
  t.throws(() => mintScopedWorker(dir, { agents: ['testing'], name: 'b', names }), /worker-b exists/);
  t.throws(() => mintScopedWorker(dir, { agents: ['testing'], name: 'a.b', names }), /invalid --name/);
  t.throws(() => mintScopedWorker(dir, { agents: [], names }), /--agents/);
  const random = mintScopedWorker(dir, { agents: ['testing'], names });
  t.match(random.worker.user, /^worker-[0-9a-f]{8}$/, 'a random name by default');
  t.not(readFileSync(random.passwordFile, 'utf8'), `${password}\n`, 'a password per user');
});

t.test("the server's configuration: nats.conf with the users in place of the marker", async (t) => {
  const dir = tempDir(t);
  const natsConf = join(ROOT, 'nats.conf');
  t.ok(readFileSync(natsConf, 'utf8').includes(SCOPED_WORKERS_MARKER), 'the shipped nats.conf has the marker');
  const empty = readFileSync(writeComposedConf(dir, natsConf).file, 'utf8');
  t.notOk(empty.includes(SCOPED_WORKERS_MARKER), 'no scoped workers: the marker line goes');
  const { worker } = mintScopedWorker(dir, { agents: ['code_review'], name: 'cr', names });
  const composed = readFileSync(writeComposedConf(dir, natsConf).file, 'utf8');
  t.match(composed, /"user": "worker-cr"/);
  t.ok(composed.includes(readFileSync(workerPasswordFile(dir, worker.user), 'utf8').trim()), 'with its password');
  t.equal(statSync(composedConfFile(dir)).mode & 0o777, 0o600);
  const stored = writeComposedConf(dir, natsConf, '/var/nats store');
  t.ok(stored.storeDirInConfig, 'the store directory goes into the jetstream block (no -sd: reloads work)');
  t.match(readFileSync(stored.file, 'utf8'), /\njetstream \{\n {2}store_dir: "\/var\/nats store"\n/);
  const noMarker = join(dir, 'own.conf');
  writeFileSync(noMarker, 'port: 4222\n');
  t.throws(() => writeComposedConf(dir, noMarker), /has no line "# agentbus:scoped-workers"/);
});

t.test('npm run bus:credentials: exit codes and output', async (t) => {
  const dir = tempDir(t);
  const env = { DATA_DIR: dir };
  const none = run(['list'], env);
  t.equal(none.code, 0);
  t.equal(none.out, '', 'stdout lists users only');
  t.match(none.err, /^no scoped worker users in .*npm run bus:credentials -- worker --agents a,b\n$/, 'said');
  const made = run(['worker', '--agents', 'code_review,testing', '--name', 'hostb'], env);
  t.equal(made.code, 0, made.err);
  t.match(made.out, /bus user worker-hostb: a worker of code_review, testing only/);
  t.match(
    made.out,
    /NATS_USER=worker-hostb NATS_PASSWORD_FILE=<that file> npm run worker -- --agents code_review,testing/,
  );
  t.notMatch(made.out, readFileSync(workerPasswordFile(dir, 'worker-hostb'), 'utf8').trim(), 'no password');
  t.match(made.out, /npm start's nats-server takes it on its next start/, 'no bundled server runs: said so');
  const unknown = run(['worker', '--agents', 'nope'], env);
  t.equal(unknown.code, 2);
  t.match(unknown.err, /unknown agent\(s\): nope; the catalog .* has: .*code_review/);
  t.equal(run(['worker', '--agents', 'testing', '--name', 'hostb'], env).code, 2, 'a name in use');
  t.equal(run(['worker', '--bogus'], env).code, 2, 'an unknown option');
  t.equal(run(['nonsense'], env).code, 2);
  t.equal(run([], env).code, 2);
  const listed = run(['list'], env);
  t.equal(listed.code, 0);
  t.match(listed.out, /^worker-hostb\tcode_review,testing\t\d{4}-/);
  t.equal(listed.err, '');
});
