import t from 'tap';
import { gatewayExitOf } from '../helpers/processes.js';
import { ConfigError } from '../../common/env.js';
import { join } from 'node:path';
import { keyWarnings } from '../../gateway/auth/boot-warnings.js';
import { isLoopbackHost, loadGatewayConfig } from '../../gateway/config.js';
import { loadRateTiers, rateTiersFrom } from '../../gateway/rate-limit/rate-tiers.js';

// Every configuration here names its keys file (KEYS_FILE=none, or under a given DATA_DIR): the
// default, ./data/keys.json, is the developer's own and must not decide these tests.

t.test('loopback addresses', async (t) => {
  for (const host of ['127.0.0.1', '127.8.9.10', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1'])
    t.ok(isLoopbackHost(host), host);
  for (const host of ['0.0.0.0', '::', '192.168.1.5', '10.0.0.1', 'example.com', '128.0.0.1'])
    t.notOk(isLoopbackHost(host), host);
});

t.test('no API_KEYS on a non-loopback HOST: the gateway configuration is refused, naming the fix', async (t) => {
  t.throws(() => loadGatewayConfig({ HOST: '0.0.0.0', KEYS_FILE: 'none' }), ConfigError);
  t.throws(
    () => loadGatewayConfig({ HOST: '192.168.1.5', KEYS_FILE: 'none' }),
    /API_KEYS is not set.*"local-only" works only on a loopback address/s,
  );
  t.equal(
    loadGatewayConfig({ HOST: '0.0.0.0', API_KEYS: 'team-key', KEYS_FILE: 'none' }).devKey,
    false,
    'with keys, any address',
  );
  t.equal(loadGatewayConfig({ HOST: '127.0.0.1', KEYS_FILE: 'none' }).devKey, true, 'the dev key on loopback');
  t.equal(loadGatewayConfig({ KEYS_FILE: 'none' }).host, '127.0.0.1', 'loopback by default');
  t.match(
    String(t.throws(() => loadGatewayConfig({ HOST: '0.0.0.0', KEYS_FILE: 'none' }))),
    /npm run keys -- create --name <name>" \(the production path: per-key scopes and rate tiers\)/,
    'the refusal names npm run keys as the production path',
  );
  t.equal(
    loadGatewayConfig({ DATA_DIR: '/tmp/somewhere' }).keysFile,
    join('/tmp/somewhere', 'keys.json'),
    'the default keys file follows DATA_DIR (as the test stack sets it)',
  );
});

t.test('boot warnings: the dev key, and unlimited env keys on a reachable address', async (t) => {
  const tiers = loadRateTiers();
  const config = (env: Record<string, string>) => loadGatewayConfig({ KEYS_FILE: 'none', ...env });
  t.match(keyWarnings(config({}), tiers), [/only the development key "local-only" is accepted/]);
  const reachable = keyWarnings(config({ HOST: '0.0.0.0', API_KEYS: 'a,b' }), tiers);
  t.equal(reachable.length, 1);
  t.match(
    reachable[0],
    /HOST=0\.0\.0\.0 is reachable from other machines and the 2 key\(s\) of API_KEYS\/PRIVATE_API_KEYS have no rate limit: API_KEYS_TIER=unlimited.*npm run keys -- create/,
  );
  t.same(
    keyWarnings(config({ HOST: '0.0.0.0', API_KEYS: 'a', API_KEYS_TIER: 'standard' }), tiers),
    [],
    'a limited tier: no warning',
  );
  t.same(keyWarnings(config({ HOST: '127.0.0.1', API_KEYS: 'a' }), tiers), [], 'loopback: development, no warning');
  t.match(
    keyWarnings(config({ HOST: '0.0.0.0', API_KEYS: 'a', PRIVATE_API_KEYS: 'p' }), tiers),
    [/the 2 key\(s\)/],
    'private env keys count too',
  );
  // What counts is what the tier limits, not its name.
  const edited = rateTiersFrom({ tiers: { unlimited: { concurrent_streams: 4 } } });
  t.same(
    keyWarnings(config({ HOST: '0.0.0.0', API_KEYS: 'a' }), edited),
    [],
    'an "unlimited" tier that limits something',
  );
});

t.test('the gateway process exits with that message instead of starting', async (t) => {
  const { code, output } = await gatewayExitOf(
    { HOST: '0.0.0.0', API_KEYS: '', KEYS_FILE: 'none', NATS_URL: 'nats://127.0.0.1:1' },
    20_000,
  );
  t.not(code, 0);
  t.match(output, /HOST="0\.0\.0\.0".*API_KEYS/s);
});
