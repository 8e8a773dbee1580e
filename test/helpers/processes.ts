import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, startChild, stopChild, type StartedChild } from '../../scripts/lib/child-process.js';
import { findNatsServer, startNatsServer, type RunningNatsServer } from '../../scripts/lib/nats-server.js';

/** A test nats-server that can be stopped and started again on the same port and store dir. */
export interface RestartableNats {
  readonly url: string;
  readonly port: number;
  /** Stops the server (an outage); clients keep trying to reconnect. */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same JetStream store. */
  start(): Promise<void>;
  /** SIGKILL (a crash: no goodbye to the clients) and wait for the exit; `start()` brings it back. */
  kill(): Promise<void>;
  /** Sends `signal` (SIGSTOP, SIGCONT) to the running server: a hung server whose sockets stay open. */
  signal(signal: NodeJS.Signals): void;
  /** The running server's pid (undefined while stopped). */
  readonly pid: number | undefined;
  dispose(): Promise<void>;
}

/** A nats-server of the test's own on a random loopback port (never the machine's 4222). */
export async function startRestartableNats(): Promise<RestartableNats> {
  const binary = findNatsServer();
  if (!binary)
    throw new Error('nats-server is not installed; run "apt-get install nats-server" (or see README, Troubleshooting)');
  const storeDir = mkdtempSync(join(tmpdir(), 'agentbus-nats-'));
  let server: RunningNatsServer | undefined = await startNatsServer({ binary, port: -1, storeDir });
  const { url, port } = server;
  return {
    url,
    port,
    async stop() {
      await server?.stop();
      server = undefined;
    },
    async start() {
      if (!server) server = await startNatsServer({ binary, port, storeDir });
    },
    async kill() {
      const child = server?.process;
      server = undefined;
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGCONT');
      child.kill('SIGKILL');
      await exited;
    },
    signal(signal) {
      server?.process.kill(signal);
    },
    get pid() {
      return server?.process.pid;
    },
    async dispose() {
      // A stopped server would not hear SIGTERM: let it run again first.
      server?.process.kill('SIGCONT');
      await server?.stop();
      rmSync(storeDir, { recursive: true, force: true });
    },
  };
}

/**
 * A process of ours (`workers/main.ts`, `gateway/server.ts`) started as `npm run worker` / the
 * gateway would be, with its output captured; `kill` and `stop` touch only this child. It runs
 * the TypeScript source under tsx, as the test does (no build needed); npm start's tests cover
 * the compiled path.
 */
export interface TestProcess extends StartedChild {
  /** SIGKILL (no cleanup at all) and wait for the exit. */
  kill(): Promise<void>;
  /** SIGTERM and wait for the exit; resolves with the exit code. */
  stop(): Promise<number | null>;
  /** Resolves with the exit code (null when killed by a signal) once the process exits. */
  readonly exited: Promise<number | null>;
}

function wrap(started: StartedChild): TestProcess {
  const child: ChildProcess = started.child;
  const exited =
    child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve(child.exitCode)
      : new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    ...started,
    exited,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    stop: () => stopChild(child),
  };
}

/**
 * The environment gateway and worker processes of one test share: its NATS, its fake Ollama (model
 * `llama3.2`), one data directory (logs under it) and no response cache, so each question reaches
 * the model. A test adds what it tunes.
 */
export function testStackEnv(natsUrl: string, ollamaUrl: string, dataDir: string) {
  return {
    NATS_URL: natsUrl,
    OLLAMA_URL: ollamaUrl,
    DATA_DIR: dataDir,
    LOG_DIR: join(dataDir, 'logs'),
    DEFAULT_MODEL: 'llama3.2',
    CACHE_TTL_SECONDS: '0',
  };
}

/** A worker process serving `agents`, with `env` over the test's own environment. */
export async function startWorkerProcess(
  env: Record<string, string>,
  agents: string[],
  options: { launcher?: readonly string[] } = {},
): Promise<TestProcess> {
  return wrap(
    await startChild(
      'workers/main.ts',
      ['--agents', agents.join(',')],
      { ...process.env, LOG_FORMAT: 'json', ...env },
      { output: 'pipe', ...options },
    ),
  );
}

/** A gateway process (`gateway/server.ts`); its `ready.url` is where it listens (PORT=0 picks one). */
export async function startGatewayProcess(
  env: Record<string, string>,
  options: { launcher?: readonly string[] } = {},
): Promise<TestProcess> {
  return wrap(
    await startChild(
      'gateway/server.ts',
      [],
      { ...process.env, LOG_FORMAT: 'json', PORT: '0', HOST: '127.0.0.1', ...env },
      { output: 'pipe', ...options },
    ),
  );
}

/** How a script run by {@link runScriptToExit} ended. */
export interface ScriptRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs one of our scripts (`scripts/replay.ts`, `gateway/server.ts`, …) with `env` over the
 * test's environment until it exits, collecting its output. SIGKILLed after `timeoutMs`, and at
 * `teardown` (a test's `t`) if it is still running then.
 */
export function runScriptToExit(
  script: string,
  args: string[],
  env: Record<string, string>,
  options: { timeoutMs?: number; teardown?: { teardown(fn: () => void): void } } = {},
): Promise<ScriptRun> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  options.teardown?.teardown(kill);
  const timer = setTimeout(kill, options.timeoutMs ?? 30_000);
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}

/**
 * Runs `gateway/server.ts` with `env` until it exits, for settings that must stop it at start;
 * resolves with its exit code and everything it printed (stdout, then stderr).
 */
export async function gatewayExitOf(
  env: Record<string, string>,
  timeoutMs = 30_000,
): Promise<{ code: number | null; output: string }> {
  const { code, stdout, stderr } = await runScriptToExit(
    'gateway/server.ts',
    [],
    { LOG_FORMAT: 'json', ...env },
    { timeoutMs },
  );
  return { code, output: stdout + stderr };
}
