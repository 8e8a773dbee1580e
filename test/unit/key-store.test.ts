import { createHash, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { ConfigError } from '../../common/env.js';
import {
  createKeyStore,
  matchKey,
  type KeyStore,
  type KeyStoreOptions,
  type KnownKey,
} from '../../gateway/auth/key-store.js';
import { lockFileOf, withKeysFileLock } from '../../gateway/auth/keys-file-lock.js';
import {
  keysFileExists,
  readKeysFile,
  sha256Hex,
  tenantOfDigest,
  tenantOfKey,
  writeKeysFile,
} from '../../gateway/auth/keys-file.js';
import { loadGatewayConfig } from '../../gateway/config.js';
import { tenantOf } from '../../gateway/auth/bearer-auth.js';

const dir = mkdtempSync(join(tmpdir(), 'agentbus-key-store-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const LOOPBACK = '127.0.0.1';
const quiet = { info: () => undefined, error: () => undefined };
const entry = (name: string, key: string, extra: object = {}) => ({
  id: `id-${name}`,
  name,
  sha256: sha256Hex(key),
  agents: '*' as const,
  tier: 'standard',
  created_at: '2026-01-01T00:00:00Z',
  ...extra,
});

/** The options of a store that knows only `keysFile`'s keys (no API_KEYS, no dev key), with `extra` over them. */
const fileOnly = (keysFile: string | undefined, extra: Partial<KeyStoreOptions> = {}): KeyStoreOptions => ({
  keysFile,
  apiKeys: [],
  privateApiKeys: [],
  envTier: 'unlimited',
  devKey: undefined,
  log: quiet,
  ...extra,
});

/** A store following `file`, polling every `pollIntervalMs`, closed when the test ends. */
const followingFile = (t: Test, file: string, pollIntervalMs: number) => {
  const store = createKeyStore(fileOnly(file, { pollIntervalMs }));
  t.teardown(() => store.close());
  return store;
};

// The watch does not keep a process alive (nor should it): this timer does, and names a reload that never comes.
const reloadOf = (store: KeyStore) =>
  new Promise<void>((done, fail) => {
    const guard = setTimeout(() => fail(new Error('no reload heard')), 30_000);
    const stop = store.onChange(() => {
      clearTimeout(guard);
      stop();
      done();
    });
  });

/** A few event-loop turns: enough for an event the kernel already queued to reach its watch. */
const loopTurns = async (count: number) => {
  for (let turn = 0; turn < count; turn++) await new Promise((next) => setImmediate(next));
};

t.test('every known key is compared, in constant time, whichever matches', async (t) => {
  const known: KnownKey[] = ['a', 'b', 'c', 'd'].map((key) => ({
    digest: createHash('sha256').update(key).digest(),
    caller: { tenant: tenantOf(key), name: key, agents: null, tier: 'standard', private: false },
  }));
  for (const presented of ['a', 'c', 'd', 'nope']) {
    let comparisons = 0;
    const counting = (x: Buffer, y: Buffer) => {
      comparisons++;
      return timingSafeEqual(x, y);
    };
    const caller = matchKey(known, createHash('sha256').update(presented).digest(), counting);
    t.equal(comparisons, known.length, `all ${known.length} compared for "${presented}"`);
    t.equal(caller?.name, presented === 'nope' ? undefined : presented);
  }
});

t.test('a key gets the same tenant from API_KEYS and from the file, so its sessions carry over', async (t) => {
  t.equal(tenantOfDigest(sha256Hex('team-key')), tenantOf('team-key'));
  const file = join(dir, 'same.json');
  writeKeysFile(file, { keys: [entry('team', 'team-key')] });
  const fromFile = createKeyStore(fileOnly(file));
  const fromEnv = createKeyStore(fileOnly(undefined, { apiKeys: ['team-key'] }));
  t.equal(fromFile.callerFor('team-key', LOOPBACK)?.tenant, fromEnv.callerFor('team-key', LOOPBACK)?.tenant);
  t.match(fromEnv.callerFor('team-key', LOOPBACK), {
    name: 'api-keys',
    agents: null,
    tier: 'unlimited',
    private: false,
  });
  fromFile.close();
});

t.test('scope, tier, private and revocation come from the entry', async (t) => {
  const file = join(dir, 'entries.json');
  writeKeysFile(file, {
    keys: [
      entry('scoped', 'k1', { agents: ['testing'], tier: 'premium', private: true }),
      entry('gone', 'k2', { revoked_at: '2026-01-02T00:00:00Z' }),
    ],
  });
  const store = createKeyStore(fileOnly(file, { privateApiKeys: ['pk'], devKey: 'local-only' }));
  t.teardown(() => store.close());
  t.match(store.callerFor('k1', LOOPBACK), { name: 'scoped', agents: ['testing'], tier: 'premium', private: true });
  t.equal(store.callerFor('k2', LOOPBACK), undefined, 'revoked');
  t.equal(store.callerFor('local-only', LOOPBACK), undefined, 'the dev key is off while the file lists keys');
  t.match(store.callerFor('pk', LOOPBACK), { private: true, name: 'private-api-keys' });
});

t.test('the dev key works only while no key exists, and the config refuses it off loopback', async (t) => {
  const file = join(dir, 'dev.json');
  const store = createKeyStore(fileOnly(file, { devKey: 'local-only' }));
  t.teardown(() => store.close());
  t.ok(store.callerFor('local-only', LOOPBACK), 'no file yet');
  writeKeysFile(file, { keys: [entry('first', 'k1')] });
  t.ok(store.reload());
  t.equal(store.callerFor('local-only', LOOPBACK), undefined, 'gone once a key exists');
  t.equal(loadGatewayConfig({ KEYS_FILE: file }).devKey, false);
  t.equal(
    loadGatewayConfig({ KEYS_FILE: file, HOST: '0.0.0.0' }).devKey,
    false,
    'a non-loopback address is fine with keys in the file',
  );
  t.throws(
    () => loadGatewayConfig({ KEYS_FILE: join(dir, 'none-yet.json'), HOST: '0.0.0.0' }),
    ConfigError,
    'but not with an empty one',
  );
  t.equal(loadGatewayConfig({ KEYS_FILE: 'none' }).keysFile, undefined);
});

t.test(
  'a broken file: at creation an error naming KEYS_FILE and the field; on reload the last good keys stay',
  async (t) => {
    const file = join(dir, 'broken.json');
    writeFileSync(file, JSON.stringify({ keys: [{ ...entry('x', 'k1'), agents: 'everything' }] }));
    t.throws(() => createKeyStore(fileOnly(file)), /invalid keys file .*broken\.json \(KEYS_FILE\).*agents/);
    writeKeysFile(file, { keys: [entry('x', 'k1'), entry('y', 'k2', { id: 'id-x' })] });
    t.throws(() => createKeyStore(fileOnly(file)), /keys\[1\]\.id repeats/);

    writeKeysFile(file, { keys: [entry('x', 'k1')] });
    const errors: string[] = [];
    const store = createKeyStore(
      fileOnly(file, {
        log: {
          info: () => undefined,
          error: (_obj: unknown, message?: string) => errors.push(String(message)),
        },
      }),
    );
    t.teardown(() => store.close());
    writeFileSync(file, 'not json');
    t.equal(store.reload(), false);
    t.equal(store.reload(), false);
    t.equal(errors.length, 1, 'logged once per problem');
    t.match(errors[0], /KEYS_FILE/);
    t.ok(store.callerFor('k1', LOOPBACK), 'the last good keys still work');
  },
);

t.test('a KEYS_FILE that is a directory: an error naming KEYS_FILE, not a bare EISDIR', async (t) => {
  const folder = mkdtempSync(join(dir, 'folder-'));
  t.throws(
    () => createKeyStore(fileOnly(folder)),
    /keys file .*folder-\w+ \(KEYS_FILE\) is a directory; KEYS_FILE must name a file/,
  );
  t.throws(() => readKeysFile(folder), /\(KEYS_FILE\) is a directory/);
  t.equal(keysFileExists(join(dir, 'nothing-here.json')), false, 'a missing file is an empty one');
});

t.test('onChange: listeners hear every reload that read the file, until they unsubscribe', async (t) => {
  const file = join(dir, 'change.json');
  writeKeysFile(file, { keys: [entry('a', 'ka')] });
  const store = followingFile(t, file, 60_000);
  let heard = 0;
  const stop = store.onChange(() => {
    heard++;
  });
  store.onChange(() => {
    throw new Error('one listener failing');
  });
  writeKeysFile(file, { keys: [entry('a', 'ka', { revoked_at: '2026-01-02T00:00:00Z' })] });
  t.ok(store.reload());
  t.equal(heard, 1, 'heard, despite the other listener throwing');
  t.equal(store.callerFor('ka', LOOPBACK), undefined, 'and the listener sees the revocation already');
  writeFileSync(file, 'broken');
  t.notOk(store.reload());
  t.equal(heard, 1, 'a broken file changes nothing, so nobody is told');
  stop();
  writeKeysFile(file, { keys: [entry('a', 'ka')] });
  t.ok(store.reload());
  t.equal(heard, 1, 'unsubscribed');
});

t.test('each atomic replacement of the file is followed at once, without the poll', async (t) => {
  // The watch follows the file itself (not DATA_DIR, where SQLite writes would wake the gateway),
  // so it must re-arm on the file a rename put in its place.
  const file = join(dir, 'followed.json');
  writeKeysFile(file, { keys: [entry('a', 'ka')] });
  const store = followingFile(t, file, 3_600_000);
  for (const key of ['kb', 'kc', 'kd', 'ke', 'kf']) {
    const heard = reloadOf(store);
    writeKeysFile(file, { keys: [entry('a', key)] });
    await heard;
    t.ok(store.callerFor(key, LOOPBACK), `the key written by replacement ${key} works`);
    // The replaced file's last events pass first: the next replacement is heard only by a re-armed watch.
    await loopTurns(5);
  }
  t.equal(store.callerFor('ka', LOOPBACK), undefined, 'and the first one no longer does');
});

t.test('a watch event that finds the file moved away mid-save keeps the keys: the poll judges', async (t) => {
  const file = join(dir, 'saved.json');
  writeKeysFile(file, { keys: [entry('a', 'ka')] });
  const store = followingFile(t, file, 3_600_000);
  // An editor's save: the old file moved aside first, the new one written after.
  renameSync(file, `${file}.bak`);
  // The kernel queued the event during the rename; a few event-loop turns hand it to the watch.
  await loopTurns(5);
  t.ok(store.callerFor('ka', LOOPBACK), 'still the keys last read, not none');
  t.notOk(existsSync(file));
});

t.test('after a save the poll finds the new file; a file gone at two polls in a row takes its keys', async (t) => {
  const file = join(dir, 'polled.json');
  writeKeysFile(file, { keys: [entry('a', 'ka')] });
  const store = followingFile(t, file, 20);
  let heard = reloadOf(store);
  renameSync(file, `${file}.bak`);
  writeFileSync(file, JSON.stringify({ keys: [entry('a', 'kb')] }), { mode: 0o600 });
  await heard;
  t.ok(store.callerFor('kb', LOOPBACK), 'the saved file is read');
  heard = reloadOf(store);
  rmSync(file);
  await heard;
  t.equal(store.callerFor('kb', LOOPBACK), undefined, 'a deleted file leaves no key');
});

t.test('the keys-file lock: one holder at a time, a bounded wait naming the lock file', async (t) => {
  const file = join(dir, 'locked.json');
  t.equal(
    withKeysFileLock(file, () => 'done'),
    'done',
  );
  t.notOk(existsSync(lockFileOf(file)), 'released');
  t.throws(
    () =>
      withKeysFileLock(file, () => {
        throw new Error('inside');
      }),
    /inside/,
  );
  t.notOk(existsSync(lockFileOf(file)), 'released after a failure too');
  writeFileSync(lockFileOf(file), '12345\n'); // another run holds it (or died holding it)
  t.throws(
    () => withKeysFileLock(file, () => t.fail('must not run'), 100),
    /keys file is locked by another "npm run keys" \(lock file .*locked\.json\.lock, waited 100 ms\).*delete the lock file/,
  );
  rmSync(lockFileOf(file));
});

t.test("tenantOf (the HTTP layer) is the key store's own derivation", async (t) => {
  t.equal(tenantOf('some-key'), tenantOfKey('some-key'));
  t.equal(tenantOfKey('some-key'), tenantOfDigest(sha256Hex('some-key')));
});
