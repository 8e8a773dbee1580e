import { mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { readEnv } from '../common/env.js';
import { createLogger } from '../common/logger.js';
import { connectBus } from '../common/bus.js';
import { readNatsClientSettings } from '../common/nats-client.js';
import { loadGatewayConfig } from '../gateway/config.js';
import { loadWorkerConfig } from '../workers/config.js';
import { memoryDatabasePath, openMemoryDatabase } from '../workers/memory/database.js';
import { migrateToLatest } from '../workers/memory/migrate.js';
import { setUpBus } from './lib/bus-setup.js';
import { startChild, stopChild, type StartedChild } from './lib/child-process.js';
import { ensureNatsServer } from './lib/install-nats.js';
import { ensureBusCredentials, type RoleCredentials } from './lib/nats-credentials.js';
import { startNatsServer, type RunningNatsServer } from './lib/nats-server.js';
import { freePort, isPortFree } from './lib/ports.js';
import { readStartSettings } from './lib/start-settings.js';

// The whole local stack in one command: nats-server (unless NATS_URL is set), the memory
// database migrated, one worker serving every agent, and the gateway. Ctrl-C stops it all.

/** Worker settings the add-workers line repeats when this stack was started with them. */
const WORKER_SETTINGS_TO_REPEAT = [
  'PROVIDER',
  'OLLAMA_URL',
  'OPENAI_BASE_URL',
  'LLAMA_CPP_MODEL_PATH',
  'LLAMA_CPP_THREADS',
  'AGENTS_FILE',
  'DEFAULT_MODEL',
  'SUBJECT_PREFIX',
];

const say = (line: string) => process.stdout.write(`[agentbus] ${line}\n`);
// Piped output (`npm start | tee log`) can close before we do: Ctrl-C reaches tee too. A write
// error must not kill the supervisor before it has stopped the workers and nats-server.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});

/** The port nats.conf asks for (4222 when it names none). */
async function configuredNatsPort(confFile: string): Promise<number> {
  const text = await readFile(confFile, 'utf8');
  const match = /^\s*port\s*[:=]\s*(\d+)/m.exec(text);
  return match ? Number(match[1]) : 4222;
}

async function startBundledNats(
  dataDir: string,
  natsConf: string,
  serverEnv: Record<string, string>,
): Promise<RunningNatsServer> {
  const binary = ensureNatsServer(say);
  const confFile = resolve(natsConf);
  const host = '127.0.0.1';
  let port = await configuredNatsPort(confFile);
  if (!(await isPortFree(host, port))) {
    const taken = port;
    port = await freePort(host);
    say(
      `port ${taken} from ${confFile} is already taken (another NATS server?). ` +
        `Not attaching to it: the bundled nats-server starts on port ${port} instead. ` +
        `To use the one on ${taken}, stop this and run: NATS_URL=nats://${host}:${taken} npm start`,
    );
  }
  return startNatsServer({
    binary,
    configFile: confFile,
    host,
    port,
    storeDir: join(dataDir, 'nats'),
    env: { ...process.env, ...serverEnv },
  });
}

async function main(): Promise<void> {
  // Validate every setting before starting anything: no half-started stack on a typo.
  const gatewayConfig = loadGatewayConfig();
  const workerConfig = loadWorkerConfig();
  const settings = readStartSettings(readEnv());
  const dataDir = resolve(workerConfig.dataDir);
  mkdirSync(dataDir, { recursive: true });

  const started: ChildProcess[] = [];
  // Kept as a promise so a Ctrl-C while nats-server is still starting stops it too.
  let nats: Promise<RunningNatsServer | undefined> = Promise.resolve(undefined);
  let stopping = false;
  const stopAll = async (exitCode: number) => {
    if (stopping) return;
    stopping = true;
    say('stopping…');
    for (const child of started.reverse()) await stopChild(child);
    await (await nats.catch(() => undefined))?.stop();
    say('stopped');
    process.exit(exitCode);
  };
  // stopAll ends the process itself, whatever happens on the way.
  const stopOn = (code: number) => () => {
    stopAll(code).catch(() => process.exit(code));
  };
  process.on('SIGINT', stopOn(0)).on('SIGTERM', stopOn(0));

  try {
    let natsUrl = settings.natsUrl;
    // With NATS_URL the children use the NATS_USER/NATS_PASSWORD[_FILE] given (or none); the
    // bundled server gets a user per role, whose passwords live under DATA_DIR.
    let credentials: Record<'gateway' | 'worker', RoleCredentials> | undefined;
    if (natsUrl) say(`using NATS at ${natsUrl} (NATS_URL)`);
    else {
      const bus = ensureBusCredentials(dataDir);
      credentials = bus.roles;
      nats = startBundledNats(dataDir, settings.natsConf, bus.serverEnv);
      const server = (await nats)!;
      natsUrl = server.url;
      say(`nats-server started at ${natsUrl} (JetStream in ${join(dataDir, 'nats')})`);
      server.process.once('exit', (code) => {
        if (stopping) return;
        say(`nats-server exited unexpectedly (code ${code}); stopping the stack`);
        stopOn(1)();
      });
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

    const db = openMemoryDatabase(memoryDatabasePath(dataDir));
    const applied = await migrateToLatest(db);
    await db.destroy();
    say(
      `memory database ${memoryDatabasePath(dataDir)} ` +
        `${applied.length > 0 ? `migrated (${applied.join(', ')})` : 'is up to date'}`,
    );

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
    const launch = async (entry: string, role: 'gateway' | 'worker', args: string[] = []): Promise<StartedChild> => {
      const child = await startChild(entry, args, envOf(role));
      started.push(child.child);
      child.child.once('exit', (code) => {
        if (stopping) return;
        say(`${entry} exited unexpectedly (code ${code}); stopping the stack`);
        stopOn(1)();
      });
      return child;
    };
    const worker = await launch('workers/main.ts', 'worker');
    const gateway = await launch('gateway/server.ts', 'gateway');

    const url = String(gateway.ready['url']);
    const backend = worker.ready['backend'] as {
      name: string;
      url: string;
      reachable: boolean;
      version?: string;
      missingModels: string[];
      error?: string;
    };
    say('agentbus is running');
    say(`  open     ${url}/   (the playground: pick an agent and chat in the browser)`);
    say(
      `  gateway  ${url}   (OpenAI base URL ${url}/v1, WebSocket ${url.replace(/^http/, 'ws')}/v1/ws, API key ` +
        (gatewayConfig.devKey
          ? '"local-only" — make real keys with "npm run keys -- create --name <name>"'
          : 'from the keys file or API_KEYS') +
        ')',
    );
    say(`  agents   ${(worker.ready['agents'] as string[]).join(', ')}`);
    // A worker added by hand must reach the same model backend and write the same memory as
    // this one: the line repeats the settings given to this stack (never a secret such as
    // OPENAI_API_KEY, which the user sets again themselves).
    const sameSetup = [
      ...WORKER_SETTINGS_TO_REPEAT.filter((name) => process.env[name]).map((name) => `${name}=${process.env[name]}`),
      `DATA_DIR=${dataDir}`,
    ].join(' ');
    if (credentials) {
      say(
        `  NATS     ${natsUrl}   (locked down: a user per role, ` +
          `passwords in ${join(dataDir, 'nats-credentials')}, README "Securing the bus")`,
      );
      say(
        `           add workers: NATS_URL=${natsUrl} NATS_USER=worker ` +
          `NATS_PASSWORD_FILE=${credentials.worker.passwordFile} ${sameSetup} npm run worker -- --agents <names>`,
      );
    } else
      say(`  NATS     ${natsUrl}   (add workers: NATS_URL=${natsUrl} ${sameSetup} npm run worker -- --agents <names>)`);
    say(`  memory   ${memoryDatabasePath(dataDir)}`);
    if (!backend.reachable) say(`  model    NOT reachable — ${backend.error}`);
    else {
      if (backend.name === 'ollama')
        say(`  model    Ollama ${backend.version ?? ''} at ${backend.url} answers (OLLAMA_URL)`);
      else say(`  model    ${backend.name}: ${backend.version ?? backend.url} answers (PROVIDER=${backend.name})`);
      if (backend.missingModels.length > 0)
        say(`           missing models: ${backend.missingModels.join(', ')} — run "ollama pull <model>" for each`);
    }
    say('press Ctrl-C to stop');
  } catch (err) {
    process.stderr.write(`[agentbus] could not start: ${(err as Error).message}\n`);
    await stopAll(1);
  }
}

void main().catch((err: unknown) => {
  process.stderr.write(`[agentbus] could not start: ${(err as Error).message}\n`);
  process.exit(1);
});
