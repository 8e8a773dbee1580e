import { spawn } from 'node:child_process';
import t from 'tap';
import { ConfigError } from '../common/env.js';
import { isLoopbackHost, loadGatewayConfig } from '../gateway/config.js';

t.test('loopback addresses', async (t) => {
  for (const host of ['127.0.0.1', '127.8.9.10', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) t.ok(isLoopbackHost(host), host);
  for (const host of ['0.0.0.0', '::', '192.168.1.5', '10.0.0.1', 'example.com', '128.0.0.1']) t.notOk(isLoopbackHost(host), host);
});

t.test('no API_KEYS on a non-loopback HOST: the gateway configuration is refused, naming the fix', async (t) => {
  t.throws(() => loadGatewayConfig({ HOST: '0.0.0.0' }), ConfigError);
  t.throws(() => loadGatewayConfig({ HOST: '192.168.1.5' }), /API_KEYS is not set.*"local-only" works only on a loopback address/s);
  t.equal(loadGatewayConfig({ HOST: '0.0.0.0', API_KEYS: 'team-key' }).devKey, false, 'with keys, any address');
  t.equal(loadGatewayConfig({ HOST: '127.0.0.1' }).devKey, true, 'the dev key on loopback');
  t.equal(loadGatewayConfig({}).host, '127.0.0.1', 'loopback by default');
});

t.test('the gateway process exits with that message instead of starting', async (t) => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'gateway/server.ts'], {
    cwd: new URL('..', import.meta.url),
    env: { ...process.env, HOST: '0.0.0.0', API_KEYS: '', NATS_URL: 'nats://127.0.0.1:1', LOG_FORMAT: 'json' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
  t.not(code, 0);
  t.match(output, /HOST="0\.0\.0\.0".*API_KEYS/s);
});
