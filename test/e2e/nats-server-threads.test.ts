import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { findNatsServer, startNatsServer } from '../../scripts/lib/nats-server.js';

// The nats-server agentbus starts runs its Go code on one thread unless NATS_SERVER_GOMAXPROCS
// says otherwise (BENCHMARKS.md: a thread per core cost ~25 % of its CPU per request).

const found = findNatsServer();
if (!found) throw new Error('nats-server is not installed (npm test installs it)');
const binary = found;

/** GOMAXPROCS in the environment of the server started with `env`, or undefined. */
async function goMaxProcsOf(t: Test, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-nats-threads-'));
  const server = await startNatsServer({ binary, port: -1, storeDir: join(dir, 'js'), env });
  t.teardown(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const environ = readFileSync(`/proc/${server.process.pid}/environ`, 'utf8').split('\0');
  return environ.find((pair) => pair.startsWith('GOMAXPROCS='))?.slice('GOMAXPROCS='.length);
}

const { GOMAXPROCS: _go, NATS_SERVER_GOMAXPROCS: _ours, ...base } = process.env;

t.test('one thread by default, whatever GOMAXPROCS the starter has', async (t) => {
  t.equal(await goMaxProcsOf(t, base), '1');
  t.equal(await goMaxProcsOf(t, { ...base, GOMAXPROCS: '4' }), '1');
});

t.test('NATS_SERVER_GOMAXPROCS sets it; 0 leaves Go its own', async (t) => {
  t.equal(await goMaxProcsOf(t, { ...base, NATS_SERVER_GOMAXPROCS: '3' }), '3');
  t.equal(await goMaxProcsOf(t, { ...base, NATS_SERVER_GOMAXPROCS: '0' }), undefined);
});

t.test('a value that is not a count stops the start, naming the variable', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-nats-threads-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const env = { ...base, NATS_SERVER_GOMAXPROCS: 'many' };
  await t.rejects(startNatsServer({ binary, port: -1, storeDir: join(dir, 'js'), env }), {
    message: /NATS_SERVER_GOMAXPROCS="many" must be an integer between 0 and 1024/,
  });
});
