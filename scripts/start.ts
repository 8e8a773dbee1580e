import { ensurePrivateDir } from '../common/private-files.js';
import { resolve } from 'node:path';
import { readEnv } from '../common/env.js';
import { createLogger } from '../common/logger.js';
import { connectBus } from '../common/bus.js';
import { readNatsClientSettings } from '../common/nats-client.js';
import { loadGatewayConfig } from '../gateway/config.js';
import { loadWorkerConfig } from '../workers/config.js';
import { openMigratedMemory } from '../workers/memory/open.js';
import { setUpBus } from './lib/bus-setup.js';
import { startBundledNats } from './lib/bundled-nats.js';
import { ensureBusCredentials, type RoleCredentials } from './lib/nats-credentials.js';
import { watchParent } from './lib/parent-watch.js';
import { voiceLine } from './lib/speech-tools.js';
import { listenLine } from './lib/transcription-tools.js';
import { runningBanner, type ReadyBackend } from './lib/start-banner.js';
import { readStartSettings } from './lib/start-settings.js';
import { superviseChild, type ChildIncarnation } from './lib/supervised-child.js';
import type { Supervised } from './lib/supervised-process.js';

// The whole local stack in one command: nats-server (unless NATS_URL is set), the memory
// database migrated, one worker serving every agent, and the gateway. It supervises them: a
// crashed one is restarted with backoff. Ctrl-C, SIGTERM or SIGHUP stops it all.

const say = (line: string) => process.stdout.write(`[agentbus] ${line}\n`);
// Piped output (`npm start | tee log`) can close before we do: Ctrl-C reaches tee too, and a
// closed terminal (SIGHUP) fails every write. A write error must not kill the supervisor before
// it has stopped the workers and nats-server.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});

// Stopping runs these in reverse: the gateway first (it drains its clients), then the worker,
// nats-server last, once nothing needs it any more.
const stoppers: Array<() => Promise<unknown>> = [];
// Aborted when the stack stops: a start in progress ends at once (a Ctrl-C while starting does
// not wait for it), and an exit from then on is no crash to restart.
const startup = new AbortController();
let started: Promise<void> = Promise.resolve();
let stopping = false;

async function stopAll(exitCode: number, why: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  say(`stopping (${why})…`);
  startup.abort();
  await started;
  // One that fails to stop must not keep the next (nats-server last) running.
  for (const stop of stoppers.reverse())
    await stop().catch((err: unknown) => say(`could not stop cleanly: ${(err as Error).message}`));
  say('stopped');
  process.exit(exitCode);
}

// stopAll ends the process itself, whatever happens on the way.
const stopOn = (code: number, why: string) => () => {
  stopAll(code, why).catch(() => process.exit(code));
};
// SIGHUP: the terminal closed. npm forwards SIGINT and SIGTERM to us, but the shell it runs us
// in does not (hence `exec` in package.json), and nobody forwards SIGHUP.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, stopOn(0, signal));
// Under npm, npm owns the terminal: if it is gone (SIGHUP, SIGKILL), so is whoever would stop us.
if (process.env['npm_lifecycle_event']) watchParent((pid) => stopOn(0, `npm (pid ${pid}) is gone`)());

async function startStack(): Promise<void> {
  // Validate every setting before starting anything: no half-started stack on a typo.
  const gatewayConfig = loadGatewayConfig();
  const workerConfig = loadWorkerConfig();
  const settings = readStartSettings(readEnv());
  const dataDir = resolve(workerConfig.dataDir);
  const memoryShown =
    workerConfig.memory.dialect === 'sqlite' ? workerConfig.memory.file : workerConfig.memory.shownUrl;
  ensurePrivateDir(dataDir); // memory, keys, bus passwords: 0700 whatever the umask
  const { signal } = startup;

  let natsUrl = settings.natsUrl;
  let natsPid: () => number | undefined = () => undefined;
  // With NATS_URL the children use the NATS_USER/NATS_PASSWORD[_FILE] given (or none); the
  // bundled server gets a user per role, whose passwords live under DATA_DIR.
  let credentials: Record<'gateway' | 'worker', RoleCredentials> | undefined;
  if (natsUrl) say(`using NATS at ${natsUrl} (NATS_URL)`);
  else {
    const bus = ensureBusCredentials(dataDir);
    credentials = bus.roles;
    const nats = await startBundledNats({
      dataDir,
      natsConf: settings.natsConf,
      serverEnv: bus.serverEnv,
      say,
      signal,
    });
    stoppers.push(() => nats.stop());
    natsUrl = nats.url;
    natsPid = nats.pid;
    say(`nats-server started at ${natsUrl} (JetStream in ${nats.storeDir})`);
    // The runtime users may not create streams (nats.conf): the admin user does, first.
    // TLS settings (NATS_TLS_*) come from the environment as for the children; the user and
    // password are the admin's, never the caller's own NATS_PASSWORD.
    const admin = readEnv({
      ...process.env,
      NATS_PASSWORD: undefined,
      NATS_USER: bus.roles.admin.user,
      NATS_PASSWORD_FILE: bus.roles.admin.passwordFile,
    });
    const adminBus = await connectBus({
      url: natsUrl,
      role: 'admin',
      name: 'agentbus-bus-setup',
      log: createLogger('bus-setup', { level: 'error' }),
      client: readNatsClientSettings(admin, 'admin', natsUrl),
    });
    try {
      await setUpBus(
        adminBus,
        {
          subjectPrefix: gatewayConfig.subjectPrefix,
          audit: gatewayConfig.audit,
          cacheTtlSeconds: workerConfig.cacheTtlSeconds,
          rateLimitBucket: gatewayConfig.rateLimitBucket,
        },
        (line) => say(`bus setup: ${line}`),
      );
    } finally {
      await adminBus.close();
    }
  }
  signal.throwIfAborted();

  const memory = await openMigratedMemory(workerConfig.memory);
  await memory.db.destroy();
  say(
    `memory database ${memoryShown} ` +
      `${memory.applied.length > 0 ? `migrated (${memory.applied.join(', ')})` : 'is up to date'}`,
  );
  signal.throwIfAborted();

  // Voice agents need espeak-ng on this host: installed now when missing (as root).
  const voice = voiceLine(workerConfig.speech, say, workerConfig.audio);
  const listen = listenLine(workerConfig.transcription, say, workerConfig.audio);

  const env: NodeJS.ProcessEnv = { ...process.env, NATS_URL: natsUrl, DATA_DIR: dataDir };
  /**
   * The environment of a child: the bundled server's credentials of its role, by file (never the
   * password itself).
   */
  const envOf = (role: 'gateway' | 'worker'): NodeJS.ProcessEnv => {
    if (!credentials) return env;
    const { NATS_PASSWORD: _inline, ...rest } = env;
    return { ...rest, NATS_USER: credentials[role].user, NATS_PASSWORD_FILE: credentials[role].passwordFile };
  };
  // A restarted gateway listens where the first one did (PORT=0 would pick a new port), so the
  // URL printed below stays right.
  const listening: { port?: string } = {};
  // Worker and gateway start side by side (each needs only NATS): the stack is up in the time of
  // the slower, not of both. They stop in order all the same: the gateway first.
  let worker: Supervised<ChildIncarnation> | undefined;
  let gateway: Supervised<ChildIncarnation> | undefined;
  stoppers.push(async () => worker?.stop());
  stoppers.push(async () => gateway?.stop());
  [worker, gateway] = await Promise.all([
    superviseChild({ name: 'worker', entry: 'workers/main.ts', env: () => envOf('worker'), say, signal }).then(
      (started) => (worker = started),
    ),
    superviseChild({
      name: 'gateway',
      entry: 'gateway/server.ts',
      env: () => ({ ...envOf('gateway'), ...(listening.port ? { PORT: listening.port } : {}) }),
      say,
      signal,
    }).then((started) => (gateway = started)),
  ]);
  const url = String(gateway.current.ready['url']);
  listening.port = new URL(url).port;

  for (const line of runningBanner({
    gatewayUrl: url,
    devKey: gatewayConfig.devKey,
    agents: worker.current.ready['agents'] as string[],
    backend: worker.current.ready['backend'] as ReadyBackend,
    natsUrl,
    credentials,
    dataDir,
    memoryFile: memoryShown,
    voice,
    listen,
    pids: {
      supervisor: process.pid,
      nats: natsPid(),
      worker: worker.current.process.pid,
      gateway: gateway.current.process.pid,
    },
  }))
    say(line);
}

started = startStack().catch((err: unknown) => {
  if (stopping) return; // aborted by a stop: that is no error
  process.stderr.write(`[agentbus] could not start: ${(err as Error).message}\n`);
  stopOn(1, 'could not start')();
});
