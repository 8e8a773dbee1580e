import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { readEnv } from '../../common/env.js';
import { natsUrlOf } from '../../scripts/lib/bus-exchange.js';
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
