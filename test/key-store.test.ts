import { createHash, timingSafeEqual } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ConfigError } from '../common/env.js';
import { createKeyStore, matchKey, type KnownKey } from '../gateway/auth/key-store.js';
import { sha256Hex, tenantOfDigest, writeKeysFile } from '../gateway/auth/keys-file.js';
import { loadGatewayConfig } from '../gateway/config.js';
import { tenantOf } from '../gateway/plugins/auth.js';

const dir = mkdtempSync(join(tmpdir(), 'agentbus-key-store-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const quiet = { info: () => undefined, error: () => undefined };
const entry = (name: string, key: string, extra: object = {}) => ({ id: `id-${name}`, name, sha256: sha256Hex(key), agents: '*' as const, tier: 'standard', created_at: '2026-01-01T00:00:00Z', ...extra });

t.test('every known key is compared, in constant time, whichever matches', async (t) => {
  const known: KnownKey[] = ['a', 'b', 'c', 'd'].map((key) => ({ digest: createHash('sha256').update(key).digest(), caller: { tenant: tenantOf(key), name: key, agents: null, tier: 'standard', private: false } }));
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
  const fromFile = createKeyStore({ keysFile: file, apiKeys: [], privateApiKeys: [], envTier: 'unlimited', devKey: undefined, log: quiet });
  const fromEnv = createKeyStore({ keysFile: undefined, apiKeys: ['team-key'], privateApiKeys: [], envTier: 'unlimited', devKey: undefined, log: quiet });
  t.equal(fromFile.callerFor('team-key')?.tenant, fromEnv.callerFor('team-key')?.tenant);
  t.match(fromEnv.callerFor('team-key'), { name: 'api-keys', agents: null, tier: 'unlimited', private: false });
  fromFile.close();
});

t.test('scope, tier, private and revocation come from the entry', async (t) => {
  const file = join(dir, 'entries.json');
  writeKeysFile(file, { keys: [entry('scoped', 'k1', { agents: ['testing'], tier: 'premium', private: true }), entry('gone', 'k2', { revoked_at: '2026-01-02T00:00:00Z' })] });
  const store = createKeyStore({ keysFile: file, apiKeys: [], privateApiKeys: ['pk'], envTier: 'unlimited', devKey: 'local-only', log: quiet });
  t.teardown(() => store.close());
  t.match(store.callerFor('k1'), { name: 'scoped', agents: ['testing'], tier: 'premium', private: true });
  t.equal(store.callerFor('k2'), undefined, 'revoked');
  t.equal(store.callerFor('local-only'), undefined, 'the dev key is off while the file lists keys');
  t.match(store.callerFor('pk'), { private: true, name: 'private-api-keys' });
});

t.test('the dev key works only while no key exists, and the config refuses it off loopback', async (t) => {
  const file = join(dir, 'dev.json');
  const store = createKeyStore({ keysFile: file, apiKeys: [], privateApiKeys: [], envTier: 'unlimited', devKey: 'local-only', log: quiet });
  t.teardown(() => store.close());
  t.ok(store.callerFor('local-only'), 'no file yet');
  writeKeysFile(file, { keys: [entry('first', 'k1')] });
  t.ok(store.reload());
  t.equal(store.callerFor('local-only'), undefined, 'gone once a key exists');
  t.equal(loadGatewayConfig({ KEYS_FILE: file }).devKey, false);
  t.equal(loadGatewayConfig({ KEYS_FILE: file, HOST: '0.0.0.0' }).devKey, false, 'a non-loopback address is fine with keys in the file');
  t.throws(() => loadGatewayConfig({ KEYS_FILE: join(dir, 'none-yet.json'), HOST: '0.0.0.0' }), ConfigError, 'but not with an empty one');
  t.equal(loadGatewayConfig({ KEYS_FILE: 'none' }).keysFile, undefined);
});

t.test('a broken file: at creation an error naming KEYS_FILE and the field; on reload the last good keys stay', async (t) => {
  const file = join(dir, 'broken.json');
  writeFileSync(file, JSON.stringify({ keys: [{ ...entry('x', 'k1'), agents: 'everything' }] }));
  t.throws(() => createKeyStore({ keysFile: file, apiKeys: [], privateApiKeys: [], envTier: 'unlimited', devKey: undefined, log: quiet }), /invalid keys file .*broken\.json \(KEYS_FILE\).*agents/);
  writeKeysFile(file, { keys: [entry('x', 'k1'), entry('y', 'k2', { id: 'id-x' })] });
  t.throws(() => createKeyStore({ keysFile: file, apiKeys: [], privateApiKeys: [], envTier: 'unlimited', devKey: undefined, log: quiet }), /keys\[1\]\.id repeats/);

  writeKeysFile(file, { keys: [entry('x', 'k1')] });
  const errors: string[] = [];
  const store = createKeyStore({ keysFile: file, apiKeys: [], privateApiKeys: [], envTier: 'unlimited', devKey: undefined, log: { info: () => undefined, error: (_obj: unknown, message?: string) => errors.push(String(message)) } as never });
  t.teardown(() => store.close());
  writeFileSync(file, 'not json');
  t.equal(store.reload(), false);
  t.equal(store.reload(), false);
  t.equal(errors.length, 1, 'logged once per problem');
  t.match(errors[0], /KEYS_FILE/);
  t.ok(store.callerFor('k1'), 'the last good keys still work');
});
