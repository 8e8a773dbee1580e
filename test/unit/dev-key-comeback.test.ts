import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { createKeyStore } from '../../gateway/auth/key-store.js';
import { keysExisted, keysMarkerOf, sha256Hex, writeKeysFile } from '../../gateway/auth/keys-file.js';
import { loadGatewayConfig } from '../../gateway/config.js';

// Finding 5 of issue 18: with the keys file moved away, or emptied to {"keys": []}, the public
// dev key "local-only" answered 200 again. And finding 4's part about the key itself: it is
// honoured only from a loopback peer.
const dir = mkdtempSync(join(tmpdir(), 'agentbus-dev-key-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const LOOPBACK = '127.0.0.1';
const entry = {
  id: 'id-first',
  name: 'first',
  sha256: sha256Hex('k1'),
  agents: '*' as const,
  tier: 'standard',
  created_at: '2026-01-01T00:00:00Z',
};

function storeFor(file: string) {
  const errors: string[] = [];
  const store = createKeyStore({
    keysFile: file,
    apiKeys: [],
    privateApiKeys: [],
    envTier: 'unlimited',
    devKey: 'local-only',
    log: { info: () => undefined, error: (_fields: unknown, message?: string) => void errors.push(message ?? '') },
    pollIntervalMs: 3_600_000, // reloads are the test's, by hand
  });
  t.teardown(() => store.close());
  return { store, errors };
}

t.test('the dev key works from loopback peers only, and only while no key exists', async (t) => {
  const { store } = storeFor(join(dir, 'fresh.json'));
  t.ok(store.devKeyActive());
  for (const peer of ['127.0.0.1', '127.0.0.9', '::1', '::ffff:127.0.0.1'])
    t.ok(store.callerFor('local-only', peer), `from ${peer}`);
  for (const peer of ['192.0.2.2', '::ffff:192.0.2.2', 'fd00::2', undefined])
    t.equal(store.callerFor('local-only', peer), undefined, `not from ${String(peer)}`);
});

t.test('once keys existed, a moved-away or emptied keys file means no key, never the dev key', async (t) => {
  const file = join(dir, 'keys.json');
  writeKeysFile(file, { keys: [entry] });
  t.ok(keysExisted(file), 'writing a key leaves the marker');
  const { store, errors } = storeFor(file);
  t.ok(store.callerFor('k1', '192.0.2.2'), 'a real key works from anywhere');
  t.notOk(store.devKeyActive());

  renameSync(file, join(dir, 'keys.json.moved'));
  t.ok(store.reload());
  t.equal(store.callerFor('local-only', LOOPBACK), undefined, 'moved away: no dev key');
  t.equal(store.callerFor('k1', LOOPBACK), undefined, 'and no key of the old file');
  t.notOk(store.devKeyActive());
  t.match(errors, [/keys file .*keys\.json \(KEYS_FILE\) is missing or lists no key, but it listed keys before/]);
  t.match(errors[0], /delete .*keys\.json\.had-keys/, 'the error says how to really start over');

  writeFileSync(file, '{"keys": []}\n');
  t.ok(store.reload());
  t.equal(store.callerFor('local-only', LOOPBACK), undefined, 'emptied: no dev key');
  t.equal(errors.length, 1, 'logged once per loss, not per reload');

  t.notOk(loadGatewayConfig({ KEYS_FILE: file }).devKey, 'a gateway started now has no dev key either');
  const fresh = storeFor(file);
  t.equal(fresh.store.callerFor('local-only', LOOPBACK), undefined, 'nor its key store');
  t.equal(fresh.errors.length, 1, 'which says why at boot');

  rmSync(keysMarkerOf(file));
  t.ok(store.reload());
  t.ok(store.callerFor('local-only', LOOPBACK), 'the operator deleted the marker: the dev key is back');
});

t.test('a hand-written keys file with a key leaves the marker too', async (t) => {
  const file = join(dir, 'by-hand.json');
  writeFileSync(file, JSON.stringify({ keys: [entry] }));
  storeFor(file);
  t.ok(keysExisted(file));
});
