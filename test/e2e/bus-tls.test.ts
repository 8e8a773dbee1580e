import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { createLogger } from '../../common/logger.js';
import { connectBus } from '../../common/bus.js';
import { ROOT } from '../../scripts/lib/child-process.js';
import { ensureBusCredentials, passwordFileOf } from '../../scripts/lib/nats-credentials.js';
import { loadWorkerConfig } from '../../workers/config.js';
import { startTestNats } from '../helpers/nats.js';
import { LogSink } from '../helpers/stack.js';

// README "Securing the bus", TLS: the shipped nats.conf plus a tls block, a CA made with
// openssl, and clients that trust it through NATS_TLS_CA (and a client certificate when the
// server verifies them).

const dir = mkdtempSync(join(tmpdir(), 'agentbus-bus-tls-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string) => join(dir, name);
const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });

// A CA, a server certificate for localhost and a client certificate, all signed by the CA.
// Clients name the server as on its certificate: nats.js sends no TLS server name for an IP
// URL, and Node then checks the certificate against "localhost".
openssl(
  'req',
  '-x509',
  '-newkey',
  'rsa:2048',
  '-nodes',
  '-days',
  '1',
  '-subj',
  '/CN=agentbus test CA',
  '-keyout',
  'ca-key.pem',
  '-out',
  'ca.pem',
);
writeFileSync(file('server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
writeFileSync(file('client.ext'), 'extendedKeyUsage=clientAuth\n');
for (const [name, ext] of [
  ['server', 'server.ext'],
  ['client', 'client.ext'],
] as const) {
  openssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    `/CN=agentbus ${name}`,
    '-keyout',
    `${name}-key.pem`,
    '-out',
    `${name}.csr`,
  );
  openssl(
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca-key.pem',
    '-CAcreateserial',
    '-days',
    '1',
    '-extfile',
    ext,
    '-out',
    `${name}.pem`,
  );
}

const bus = ensureBusCredentials(dir);
const serverEnv = { ...process.env, ...bus.serverEnv };
const conf = (verify: boolean) => {
  const path = file(verify ? 'nats-verify.conf' : 'nats-tls.conf');
  writeFileSync(
    path,
    `${readFileSync(join(ROOT, 'nats.conf'), 'utf8')}
tls {
  cert_file: "${file('server.pem')}"
  key_file: "${file('server-key.pem')}"
  ca_file: "${file('ca.pem')}"
  ${verify ? 'verify: true' : ''}
}
`,
  );
  return path;
};
const worker = { NATS_USER: 'worker', NATS_PASSWORD_FILE: passwordFileOf(dir, 'worker') };
const quiet = () => createLogger('off', { destination: new LogSink() });

t.test('TLS: a worker trusting the CA (NATS_TLS_CA) connects over tls://, one without it is refused', async (t) => {
  const nats = await startTestNats(conf(false), serverEnv);
  t.teardown(() => nats.dispose());
  const url = `tls://localhost:${nats.port}`;
  const trusted = loadWorkerConfig({ NATS_URL: url, ...worker, NATS_TLS_CA: file('ca.pem') });
  const nc = await connectBus({ url, role: 'worker', name: 'agentbus-worker', log: quiet(), client: trusted.nats });
  t.ok(nc.connected, 'connected over TLS (the server demands it)');
  await nc.close();

  const untrusted = await connectBus({
    url,
    role: 'worker',
    name: 'agentbus-worker',
    log: quiet(),
    client: loadWorkerConfig({ NATS_URL: url, ...worker }).nats,
  }).then(
    () => 'connected',
    (err: Error) => err.message,
  );
  t.not(untrusted, 'connected', `without the CA the server's certificate is not trusted: ${untrusted}`);
});

t.test('TLS with verify: the client certificate (NATS_TLS_CERT, NATS_TLS_KEY) is required too', async (t) => {
  const nats = await startTestNats(conf(true), serverEnv);
  t.teardown(() => nats.dispose());
  const url = `tls://localhost:${nats.port}`;
  const withCert = loadWorkerConfig({
    NATS_URL: url,
    ...worker,
    NATS_TLS_CA: file('ca.pem'),
    NATS_TLS_CERT: file('client.pem'),
    NATS_TLS_KEY: file('client-key.pem'),
  });
  const nc = await connectBus({ url, role: 'worker', name: 'agentbus-worker', log: quiet(), client: withCert.nats });
  t.ok(nc.connected, 'connected with a client certificate');
  await nc.close();

  const without = await connectBus({
    url,
    role: 'worker',
    name: 'agentbus-worker',
    log: quiet(),
    client: loadWorkerConfig({ NATS_URL: url, ...worker, NATS_TLS_CA: file('ca.pem') }).nats,
  }).then(
    () => 'connected',
    (err: Error) => err.message,
  );
  t.not(without, 'connected', `no client certificate: ${without}`);
});
