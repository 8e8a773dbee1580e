import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ROOT } from '../../scripts/lib/child-process.js';
import { freePort } from '../../scripts/lib/ports.js';
import { readNatsRecord, writeNatsRecord } from '../../scripts/lib/nats-record.js';
import { commandLineOf, isRunning } from '../../common/process-table.js';
import { runStart, waitUntilGone } from '../helpers/npm-start.js';
import { waitFor } from '../helpers/wait.js';

// A supervisor killed outright (SIGKILL) cannot stop anything: gateway and worker notice and
// exit on their own, nats-server gets its parent-death signal (scripts/lib/parent-death.ts).
// One left running all the same (no setpriv there, or started by an older agentbus) the next start
// finds by DATA_DIR/nats-server.json and stops before starting its own on the same port and folder.

/** What starts a nats-server as `pid` runs now: its arguments and environment, no parent-death signal. */
function commandOf(pid: number): () => ChildProcess {
  const [binary, ...args] = commandLineOf(pid)!;
  const env = Object.fromEntries(
    readFileSync(`/proc/${pid}/environ`, 'utf8')
      .split('\0')
      .filter(Boolean)
      .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
  );
  return () => spawn(binary!, args, { env, detached: true, stdio: 'ignore' });
}

/** True once something accepts connections on `port`. */
const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket
      .once('connect', () => {
        socket.end();
        resolve(true);
      })
      .once('error', () => resolve(false));
  });

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
  const killed = first.pids();
  const startAgain = commandOf(killed.nats!);
  first.child.kill('SIGKILL');
  await first.exited;
  t.same(await waitUntilGone([killed.worker, killed.gateway]), [], 'worker and gateway exit on their own');
  t.same(await waitUntilGone([killed.nats!]), [], 'nats-server too: its parent-death signal');

  // Left behind as one started without setpriv would be: the same command line, port and folder.
  const stale = startAgain();
  t.teardown(() => {
    if (stale.exitCode === null && stale.signalCode === null) stale.kill('SIGKILL');
  });
  await waitFor('the left-behind nats-server to listen', () => accepts(natsPort), 20_000);
  const old = { nats: stale.pid! };
  writeNatsRecord(env.DATA_DIR, { ...readNatsRecord(env.DATA_DIR)!, pid: old.nats });

  const second = runStart(env, { teardown: t });
  await second.waitFor(/press Ctrl-C to stop/);
  const out = second.output();
  t.match(
    out,
    `stopping the nats-server (pid ${old.nats} on port ${natsPort}) an earlier npm start left running`,
    'the stale nats-server is found by its record',
  );
  t.notOk(isRunning(old.nats), 'and stopped');
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
