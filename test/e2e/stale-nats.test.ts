import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ROOT } from '../../scripts/lib/child-process.js';
import { freePort } from '../../scripts/lib/ports.js';
import { isRunning } from '../../scripts/lib/process-table.js';
import { runStart, waitUntilGone } from '../helpers/npm-start.js';

// A supervisor killed outright (SIGKILL) cannot stop anything: gateway and worker notice and
// exit on their own; nats-server cannot, so the next start finds it by DATA_DIR/nats-server.json
// and stops it before starting its own on the same port and JetStream folder.

t.test('after a SIGKILLed supervisor the next start stops the stale nats-server and reuses its port', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'agentbus-stale-'));
  // The port nats.conf names is taken (a NATS the user already runs), so the stack picks one.
  const squatter = createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => squatter.once('listening', resolve));
  const takenPort = (squatter.address() as { port: number }).port;
  const conf = join(dir, 'nats.conf');
  writeFileSync(conf, readFileSync(join(ROOT, 'nats.conf'), 'utf8').replace(/^port: \d+/m, `port: ${takenPort}`));
  t.teardown(() => {
    squatter.close();
    rmSync(dir, { recursive: true, force: true });
  });
  // A fixed gateway port: a gateway left running would make the second start fail (EADDRINUSE).
  const env = {
    NATS_CONF: conf,
    PORT: String(await freePort('127.0.0.1')),
    DATA_DIR: join(dir, 'data'),
    LOG_DIR: join(dir, 'logs'),
    OLLAMA_URL: 'http://127.0.0.1:9',
  };

  const first = runStart(env, { teardown: t });
  await first.waitFor(/press Ctrl-C to stop/);
  const natsPort = Number(/already taken .* starts on port (\d+) instead/.exec(first.output())?.[1]);
  t.ok(natsPort > 0 && natsPort !== takenPort, 'the bundled nats-server moved to another port');
  const old = first.pids();
  first.child.kill('SIGKILL');
  await first.exited;
  t.same(await waitUntilGone([old.worker, old.gateway]), [], 'worker and gateway exit on their own');
  t.ok(isRunning(old.nats!), 'nats-server cannot: it is still running');

  const second = runStart(env, { teardown: t });
  await second.waitFor(/press Ctrl-C to stop/);
  const out = second.output();
  t.match(
    out,
    `stopping the nats-server (pid ${old.nats} on port ${natsPort}) an earlier npm start left running`,
    'the stale nats-server is found by its record',
  );
  t.notOk(isRunning(old.nats!), 'and stopped');
  t.match(out, `starts on port ${natsPort} instead, as on the last start`, 'its port is reused');
  t.match(out, `add workers: NATS_URL=nats://127.0.0.1:${natsPort} `, 'so the add-workers line stays right');
  t.notMatch(out, /EADDRINUSE|could not start/);
  const url = /gateway +(http:\/\/127\.0\.0\.1:\d+)/.exec(out)![1]!;
  t.equal(new URL(url).port, env.PORT, 'the gateway has its port back');
  t.equal((await fetch(`${url}/health`)).status, 200);

  // SIGTERM to start.ts itself (no npm in between), as a service manager would send it.
  const pids = second.pids();
  second.child.kill('SIGTERM');
  t.equal(await second.exited, 0);
  t.same(await waitUntilGone(Object.values(pids)), [], 'everything is stopped');
});
