import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { KEYS_POLL_INTERVAL_MS } from '../../gateway/auth/key-store.js';
import { openLiveClient } from '../helpers/ws-client.js';
import { createKey, runKeysCli, runKeysProcess } from '../helpers/keys-cli.js';
import { gatewayExitOf } from '../helpers/processes.js';
import { startStack } from '../helpers/stack.js';
import { sleep, waitUntil } from '../helpers/wait.js';

// npm run keys against a gateway that keeps running: create, list, revoke, and a file broken
// while it runs. Each test key is "unlimited": this file is about keys, not rate limits.
const dir = mkdtempSync(join(tmpdir(), 'agentbus-keys-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const keysFile = join(dir, 'keys.json');

const first = await createKey(keysFile, ['--name', 'first', '--tier', 'unlimited']);
const stack = await startStack({ env: { KEYS_FILE: keysFile } });
t.teardown(() => stack.close());

const models = (key: string) => fetch(`${stack.baseUrl}/v1/models`, { headers: { authorization: `Bearer ${key}` } });

t.test('create prints a new high-entropy key once; the file holds its hash only, mode 0600', async (t) => {
  const result = await runKeysCli(keysFile, [
    'create',
    '--name',
    'ci-bot',
    '--agents',
    'code_review,testing',
    '--tier',
    'premium',
    '--private',
  ]);
  t.equal(result.code, 0, result.stderr);
  const key = result.stdout.trim();
  t.match(key, /^ab-[A-Za-z0-9_-]{43}$/, 'prefix and 256 random bits, the only line on stdout');
  t.match(result.stderr, /shown this once/);
  const text = readFileSync(keysFile, 'utf8');
  t.notOk(text.includes(key), 'the key is not in the file');
  t.notOk(text.includes(key.slice(3)), 'nor its random part');
  t.equal(statSync(keysFile).mode & 0o777, 0o600);
  const entry = JSON.parse(text).keys.find((k: { name: string }) => k.name === 'ci-bot');
  t.match(entry, {
    name: 'ci-bot',
    agents: ['code_review', 'testing'],
    tier: 'premium',
    private: true,
    sha256: /^[0-9a-f]{64}$/,
    created_at: /Z$/,
  });
  t.notOk('revoked_at' in entry);
  t.equal((await runKeysCli(keysFile, ['create', '--name', 'ci-bot'])).code, 2, 'names are unique');
});

t.test('list shows every key without a secret or a hash', async (t) => {
  const result = await runKeysCli(keysFile, ['list']);
  t.equal(result.code, 0);
  t.match(result.stdout, /ID\s+NAME\s+AGENTS\s+TIER\s+PRIVATE\s+CREATED\s+REVOKED/);
  t.match(result.stdout, /ci-bot\s+code_review,testing\s+premium\s+yes/);
  t.notOk(result.stdout.includes(first), 'no key');
  for (const entry of JSON.parse(readFileSync(keysFile, 'utf8')).keys)
    t.notOk(result.stdout.includes(entry.sha256.slice(0, 16)), 'no hash, not even a prefix (the tenant id)');
  const json = JSON.parse((await runKeysCli(keysFile, ['list', '--json'])).stdout);
  t.same(Object.keys(json[0]).sort(), ['agents', 'created', 'id', 'name', 'private', 'revoked', 'tier']);
  const byName = (name: string) => json.find((row: { name: string }) => row.name === name);
  t.same(byName('ci-bot').agents, ['code_review', 'testing'], '--json: the agents as an array, not a comma string');
  t.same(byName('first').agents, ['*'], '--json: every agent is ["*"]');
});

t.test('usage errors and unknown keys have their own exit codes and say what is wrong', async (t) => {
  const cases: Array<[string[], number, RegExp]> = [
    [['launch'], 2, /unknown command "launch"/],
    [[], 2, /usage: npm run keys/],
    [['create'], 2, /needs --name/],
    [['create', '--name', 'x', '--colour', 'red'], 2, /colour/],
    [['create', '--name', 'x', '--agents', 'no_such_agent'], 2, /unknown agent\(s\): no_such_agent/],
    [['create', '--name', 'x', '--agents', 'testing', '--all'], 2, /exclude each other/],
    [['create', '--name', 'a', '--name', 'b'], 2, /--name is given more than once/],
    [
      ['create', '--name', 'x', '--tier', 'Gold!'],
      2,
      /--tier "Gold!" is not a tier of rate tiers .*rate-tiers\.json \(RATE_TIERS_FILE\); it has: standard, premium, unlimited/,
    ],
    [['create', '--name', 'x', '--tier', 'premuim'], 2, /--tier "premuim" is not a tier/],
    [['revoke'], 2, /one key id or name/],
    [['revoke', 'nobody'], 3, /no key with id or name "nobody"/],
  ];
  for (const [args, code, message] of cases) {
    const result = await runKeysCli(keysFile, args);
    t.equal(result.code, code, `${args.join(' ')} exits ${code}`);
    t.match(result.stderr + result.stdout, message, args.join(' '));
  }
  // The real process, once: its exit code and its streams are what scripts see.
  const real = await runKeysProcess(keysFile, ['revoke', 'nobody']);
  t.equal(real.code, 3, 'the process exits with the code');
  t.match(real.stderr, /no key with id or name "nobody"/);
  t.equal(real.stdout, '');
});

t.test('a key created while the gateway runs works, and revoking it stops it, without a restart', async (t) => {
  t.equal((await models(first)).status, 200, 'a key from before the boot');
  t.equal((await models('local-only')).status, 401, 'the dev key is off while the file lists keys');
  const key = await createKey(keysFile, ['--name', 'temp', '--tier', 'unlimited']);
  t.ok(await waitUntil(async () => (await models(key)).status === 200, 10_000), 'the new key is accepted');
  const socket = await openLiveClient(stack.baseUrl, { headerKey: key });
  t.teardown(() => socket.close());
  await socket.next((frame) => frame.type === 'ready');

  const revoked = await runKeysCli(keysFile, ['revoke', 'temp']);
  t.equal(revoked.code, 0, revoked.stderr);
  t.match(
    JSON.parse(readFileSync(keysFile, 'utf8')).keys.find((k: { name: string }) => k.name === 'temp'),
    { revoked_at: /Z$/ },
  );
  t.ok(await waitUntil(async () => (await models(key)).status === 401, 10_000), 'the gateway refuses the revoked key');
  const body = (await (await models(key)).json()) as { error: { code: string; message: string } };
  t.match(
    body,
    { error: { code: 'invalid_api_key', message: 'Incorrect API key provided.' } },
    'the answer of an unknown key: no oracle',
  );
  t.equal((await models(first)).status, 200, 'other keys keep working');

  // A socket opened before the revocation is closed when the file reloads, idle as it is (no frame sent).
  t.match(await socket.next((frame) => frame.type === 'error'), {
    type: 'error',
    id: null,
    error: { code: 'invalid_api_key' },
  });
  t.match(await socket.closed, { code: 4401 });
  t.equal((await runKeysCli(keysFile, ['revoke', 'temp'])).code, 0, 'revoking twice is harmless');
  t.match(
    (await runKeysCli(keysFile, ['list'])).stdout,
    /temp\s+all\s+unlimited\s+no\s+\S+Z\s+\S+Z/,
    'list shows when it was revoked',
  );
});

t.test('a stream running on a socket whose key is revoked stops at the reload, with 4401', async (t) => {
  const key = await createKey(keysFile, ['--name', 'streamer', '--tier', 'unlimited']);
  t.ok(await waitUntil(async () => (await models(key)).status === 200, 10_000));
  stack.ollama.behave({
    tokens: Array.from({ length: 200 }, (_, i) => `t${i} `),
    firstTokenDelayMs: 0,
    tokenDelayMs: 50,
  });
  t.teardown(() => stack.ollama.behave({ tokens: ['Hello'], firstTokenDelayMs: 0, tokenDelayMs: 0 }));
  const socket = await openLiveClient(stack.baseUrl, { authFrameKey: key });
  t.teardown(() => socket.close());
  await socket.next((frame) => frame.type === 'ready');
  socket.send({ type: 'chat', id: 'long', agent: 'testing', messages: [{ role: 'user', content: 'talk a while' }] });
  await socket.next((frame) => frame.type === 'delta');
  t.equal((await runKeysCli(keysFile, ['revoke', 'streamer'])).code, 0);
  t.match(await socket.next((frame) => frame.type === 'error'), { id: null, error: { code: 'invalid_api_key' } });
  t.match(await socket.closed, { code: 4401 }, 'closed while the answer was still streaming');
});

t.test('creates at the same time all land (the lock): none overwrites another', async (t) => {
  // Real processes: only they contend for the lock.
  const names = ['para-1', 'para-2', 'para-3'];
  const results = await Promise.all(
    names.map((name) => runKeysProcess(keysFile, ['create', '--name', name, '--tier', 'unlimited'])),
  );
  for (const result of results) t.equal(result.code, 0, result.stderr);
  const listed = (JSON.parse(readFileSync(keysFile, 'utf8')).keys as Array<{ name: string }>).map(
    (entry) => entry.name,
  );
  for (const name of names) t.ok(listed.includes(name), `${name} is in the file`);
  t.notOk(existsSync(`${keysFile}.lock`), 'the lock is gone');
});

t.test("revoke refuses a word that is one key's id and another key's name", async (t) => {
  const file = join(dir, 'ambiguous.json');
  const entry = (id: string, name: string, digit: string) => ({
    id,
    name,
    sha256: digit.repeat(64),
    agents: '*',
    tier: 'standard',
    created_at: '2026-01-01T00:00:00Z',
  });
  writeFileSync(file, JSON.stringify({ keys: [entry('key-aaa', 'alice', 'a'), entry('key-bbb', 'key-aaa', 'b')] }));
  const result = await runKeysCli(file, ['revoke', 'key-aaa']);
  t.equal(result.code, 2);
  t.match(result.stderr, /"key-aaa" is the id of key "alice" and the name of key key-bbb: nothing revoked/);
  t.notOk(readFileSync(file, 'utf8').includes('revoked_at'), 'nothing changed');
  t.equal((await runKeysCli(file, ['revoke', 'key-bbb'])).code, 0, 'the other one, by its id');
  t.match(JSON.parse(readFileSync(file, 'utf8')).keys[1], { name: 'key-aaa', revoked_at: /Z$/ });
  const clash = await runKeysCli(file, ['create', '--name', 'key-aaa-x']);
  t.equal(clash.code, 0, 'a fresh name is fine');
  t.match(
    (await runKeysCli(file, ['create', '--name', 'key-bbb'])).stderr,
    /"key-bbb" is the id of another key/,
    'a name equal to an id is refused',
  );
});

t.test('a KEYS_FILE that is a directory: a message naming KEYS_FILE, for the CLI and the gateway', async (t) => {
  const folder = mkdtempSync(join(dir, 'folder-'));
  const cli = await runKeysCli(folder, ['list']);
  t.equal(cli.code, 1);
  t.match(cli.stderr, /keys file .*folder-\w+ \(KEYS_FILE\) is a directory; KEYS_FILE must name a file/);
  const { code, output } = await gatewayExitOf({ ...stack.env, KEYS_FILE: folder, API_KEYS: '', PORT: '0' });
  t.not(code, 0);
  t.match(output, /\(KEYS_FILE\) is a directory/);
  t.notMatch(output, /^EISDIR/m);
});

t.test('a keys file broken while the gateway runs keeps the last good keys, and says so in the log', async (t) => {
  const good = readFileSync(keysFile, 'utf8');
  writeFileSync(keysFile, '{"keys": [ {"id": "half');
  t.ok(
    await waitUntil(
      () =>
        stack.logs.lines.some(
          (line) => line['component'] === 'keys' && line['level'] === 50 && /KEYS_FILE/.test(String(line['msg'])),
        ),
      10_000,
    ),
    'an error naming KEYS_FILE',
  );
  // A window that must stay quiet, as short as it can be: one poll of the file (every
  // KEYS_POLL_INTERVAL_MS) after the error must not drop the last good keys either.
  await sleep(KEYS_POLL_INTERVAL_MS + 200);
  t.equal((await models(first)).status, 200, 'the last good keys still work');
  writeFileSync(keysFile, good);
  t.ok(
    await waitUntil(
      () => stack.logs.lines.some((line) => line['component'] === 'keys' && /readable again/.test(String(line['msg']))),
      10_000,
    ),
  );
  t.equal((await models(first)).status, 200);
});

t.test('a broken keys file at boot stops the gateway with a message naming KEYS_FILE and the field', async (t) => {
  const broken = join(dir, 'broken.json');
  writeFileSync(
    broken,
    JSON.stringify({
      keys: [
        {
          id: 'k1',
          name: 'x',
          sha256: 'not-a-hash',
          agents: '*',
          tier: 'standard',
          created_at: '2026-01-01T00:00:00Z',
        },
      ],
    }),
  );
  const { code, output } = await gatewayExitOf({ ...stack.env, KEYS_FILE: broken, API_KEYS: '', PORT: '0' });
  t.not(code, 0);
  t.match(
    output,
    /invalid keys file .*broken\.json \(KEYS_FILE\).*keys\/0\/sha256|invalid keys file .*broken\.json \(KEYS_FILE\).*sha256/s,
  );
});
