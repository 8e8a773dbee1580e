import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { withRecordedNats } from '../../common/recorded-nats.js';

// Which bus `npm run gateway` / `npm run worker` join without NATS_URL (the e2e test runs them).
const dir = mkdtempSync(join(tmpdir(), 'agentbus-recorded-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
mkdirSync(join(dir, 'nats-credentials'));
writeFileSync(join(dir, 'nats-credentials', 'worker.password'), 'pw\n');
const record = (pid: number) =>
  writeFileSync(join(dir, 'nats-server.json'), JSON.stringify({ port: 40123, storeDir: join(dir, 'nats'), pid }));

t.test('a live recorded server: its URL and the role user with its password file', async (t) => {
  record(process.pid);
  const { env, recorded } = withRecordedNats('worker', { DATA_DIR: dir });
  t.match(env, {
    NATS_URL: 'nats://127.0.0.1:40123',
    NATS_USER: 'worker',
    NATS_PASSWORD_FILE: join(dir, 'nats-credentials', 'worker.password'),
  });
  t.match(recorded, { url: 'nats://127.0.0.1:40123', user: 'worker' });
  const own = withRecordedNats('worker', { DATA_DIR: dir, NATS_USER: 'worker-a', NATS_PASSWORD_FILE: '/x' });
  t.match(own.env, { NATS_URL: 'nats://127.0.0.1:40123', NATS_USER: 'worker-a', NATS_PASSWORD_FILE: '/x' });
});

t.test('NATS_URL set, a stopped server, or no record: the environment as it is', async (t) => {
  record(process.pid);
  const named = { DATA_DIR: dir, NATS_URL: 'nats://10.0.0.1:4222' };
  t.same(withRecordedNats('worker', named), { env: named });
  const dead = 2 ** 22 + 12345; // above Linux's pid_max default: no such process
  record(dead);
  t.same(withRecordedNats('worker', { DATA_DIR: dir }), { env: { DATA_DIR: dir } });
  t.same(withRecordedNats('gateway', { DATA_DIR: join(dir, 'none') }), { env: { DATA_DIR: join(dir, 'none') } });
});
