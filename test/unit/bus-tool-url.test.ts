import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { readEnv } from '../../common/env.js';
import { natsUrlOf, withBundledReplayUser } from '../../scripts/lib/bus-exchange.js';
import { ensureBusCredentials } from '../../scripts/lib/nats-credentials.js';
import { writeNatsRecord } from '../../scripts/lib/nats-record.js';

// `npm run replay` and `bus:request` find the nats-server `npm start` runs for DATA_DIR: it moves
// off a taken 4222, and a tool on the default port would reach another server (or none).
const dir = mkdtempSync(join(tmpdir(), 'agentbus-tool-url-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const urlOf = (flag: string | undefined, env: NodeJS.ProcessEnv) => natsUrlOf(flag, readEnv(env), env);

t.test('no record: NATS_URL, else the default', async (t) => {
  t.equal(urlOf(undefined, { DATA_DIR: dir }), 'nats://127.0.0.1:4222');
  t.equal(urlOf(undefined, { DATA_DIR: dir, NATS_URL: 'nats://bus:4222' }), 'nats://bus:4222');
});

t.test("npm start's record: its port, unless NATS_URL or the flag names one", async (t) => {
  writeNatsRecord(dir, { port: 43123, storeDir: join(dir, 'nats') });
  t.equal(urlOf(undefined, { DATA_DIR: dir }), 'nats://127.0.0.1:43123');
  t.equal(urlOf(undefined, { DATA_DIR: dir, NATS_URL: 'nats://bus:4222' }), 'nats://bus:4222');
  t.equal(urlOf('nats://flag:4222', { DATA_DIR: dir }), 'nats://flag:4222');
  t.equal(urlOf(undefined, { DATA_DIR: join(dir, 'elsewhere') }), 'nats://127.0.0.1:4222', 'another DATA_DIR');
});

t.test("the replay user's password: only for npm start's own server, only when none is named", async (t) => {
  const { roles } = ensureBusCredentials(dir);
  const bundled = natsUrlOf(undefined, readEnv({ DATA_DIR: dir }), { DATA_DIR: dir });
  t.match(withBundledReplayUser(bundled, { DATA_DIR: dir }), {
    NATS_USER: 'replay',
    NATS_PASSWORD_FILE: roles.replay.passwordFile,
  });
  t.same(withBundledReplayUser('nats://elsewhere:4222', { DATA_DIR: dir }), { DATA_DIR: dir }, 'never sent elsewhere');
  const own = { DATA_DIR: dir, NATS_USER: 'ops', NATS_PASSWORD: 'secret' };
  t.same(withBundledReplayUser(bundled, own), own, "the caller's own credentials win");
  const none = join(dir, 'no-credentials');
  mkdirSync(none);
  writeNatsRecord(none, { port: 43123, storeDir: join(none, 'nats') });
  t.same(withBundledReplayUser(bundled, { DATA_DIR: none }), { DATA_DIR: none }, 'no password file: as it was');
});
