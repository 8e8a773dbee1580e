import { spawn, type ChildProcess } from 'node:child_process';
import { delimiter, join } from 'node:path';
import { readEnv, type EnvReader } from '../../common/env.js';
import { makeDirs } from '../../common/make-dirs.js';
import { isExecutable } from './executable.js';
import { diesWithThisProcess } from './parent-death.js';

/** Places Debian and most distributions install nats-server, after $PATH. */
const EXTRA_DIRS = ['/usr/sbin', '/usr/local/sbin', '/usr/local/bin', '/usr/bin'];

/** NATS_SERVER_BIN, as `npm start`, `npm test` and `npm run bench` read it. */
export const readNatsServerBin = (read: EnvReader): string | undefined =>
  read.optionalString('NATS_SERVER_BIN', {
    doc: 'the nats-server binary to run',
    shownDefault: 'found on `PATH`, `/usr/sbin`, `/usr/local/sbin`, `/usr/local/bin`, `/usr/bin`',
  });

/**
 * NATS_SERVER_GOMAXPROCS: the OS threads running the server's Go code. One by default: the server
 * agentbus starts shares its host with the gateway and workers, and with more threads Go's scheduler
 * wakes and spins idle ones for each message, ~25 % of the server's CPU per request (BENCHMARKS.md).
 */
export const readNatsServerThreads = (read: EnvReader): number =>
  read.integer('NATS_SERVER_GOMAXPROCS', 1, {
    doc:
      '`GOMAXPROCS` of the nats-server agentbus starts (threads for its Go code), over any in the environment; ' +
      "0 leaves the environment's or the server's own choice (its cores, or its CPU quota)",
    min: 0,
    max: 1024,
  });

/** The nats-server binary on this machine, or undefined. */
export function findNatsServer(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const explicit = readNatsServerBin(readEnv(env));
  if (explicit) return isExecutable(explicit) ? explicit : undefined;
  const dirs = [...(env['PATH'] ?? '').split(delimiter), ...EXTRA_DIRS].filter(Boolean);
  return dirs.map((dir) => join(dir, 'nats-server')).find(isExecutable);
}

export interface NatsServerOptions {
  binary: string;
  /** Config file (the repo's nats.conf); command-line flags below override it. */
  configFile?: string;
  host?: string;
  /** -1 lets the server pick a free port (tests). */
  port: number;
  /** JetStream store directory. */
  storeDir: string;
  /** True when `configFile` names `storeDir` itself (then no `-sd`: the server refuses both). */
  storeDirInConfig?: boolean;
  /** Longest to wait for "Server is ready". */
  startTimeoutMs?: number;
  /**
   * Environment of the server process (default: this process's). nats.conf reads the bus
   * users' passwords from `$AGENTBUS_NATS_*_PASSWORD` references, resolved from here.
   */
  env?: NodeJS.ProcessEnv;
  /** Aborts the start: the server is stopped and the promise rejects. */
  signal?: AbortSignal;
  /** More command-line flags, after the others (a test cluster's monitoring port: `-m <port>`). */
  extraArgs?: readonly string[];
  /** A command that runs the server, e.g. `ip netns exec <ns>` (a test's host of its own). */
  launcher?: readonly string[];
  /**
   * Gets everything the server logs, from its start on; without it the log is read only until
   * ready. It must not throw: it runs in the pipe's 'data' handler.
   */
  output?: (text: string) => void;
}

export interface RunningNatsServer {
  readonly url: string;
  readonly port: number;
  readonly process: ChildProcess;
  /** Stops the server and waits for it to exit (SIGKILL after 5 s). */
  stop(): Promise<void>;
}

const LISTENING = /Listening for client connections on ([^\s:]+|\[[^\]]+\]):(\d+)/;

/**
 * Starts a nats-server and resolves once it accepts clients. The port is read from the
 * server's own log, so `port: -1` (random) is race-free.
 */
export function startNatsServer(options: NatsServerOptions): Promise<RunningNatsServer> {
  const env = options.env ?? process.env;
  const read = readEnv(env);
  const threads = readNatsServerThreads(read);
  try {
    read.done();
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
  makeDirs(options.storeDir);
  const args = [
    ...(options.configFile ? ['-c', options.configFile] : ['-js']),
    '-a',
    options.host ?? '127.0.0.1',
    '-p',
    String(options.port),
    ...(options.storeDirInConfig ? [] : ['-sd', options.storeDir]),
    ...(options.extraArgs ?? []),
  ];
  // Own process group: a terminal Ctrl-C must not stop NATS before the processes using it
  // have drained; whoever started it stops it last. Yet it goes when its starter is gone, however
  // that ended (a bench or test killed while starting): no one would ever stop it otherwise.
  const [command = options.binary, ...prefix] = [...(options.launcher ?? []), ...diesWithThisProcess(), options.binary];
  const child = spawn(command, [...prefix, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
    env: threads > 0 ? { ...env, GOMAXPROCS: String(threads) } : env,
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };

  return new Promise((resolve, reject) => {
    let log = '';
    let port: number | undefined;
    const fail = (message: string) => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      // The start failed already: that error is the one to report, once the server is gone.
      const error = new Error(`${message}\nnats-server ${args.join(' ')} said:\n${log.slice(-2000)}`);
      stop().then(
        () => reject(error),
        () => reject(error),
      );
    };
    const timer = setTimeout(() => fail('nats-server did not become ready in time'), options.startTimeoutMs ?? 10_000);
    const onError = (err: Error) => fail(`cannot run ${options.binary}: ${err.message}`);
    const onEarlyExit = (code: number | null) => fail(`nats-server exited with code ${code} before it was ready`);
    child.once('error', onError).once('exit', onEarlyExit);
    const onAbort = () => fail('the start of nats-server was aborted');
    if (options.signal?.aborted) onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      options.output?.(chunk);
      if (log.length < 64_000) log += chunk;
      const listening = LISTENING.exec(log);
      if (listening) port = Number(listening[2]);
      if (port !== undefined && log.includes('Server is ready')) {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        child.off('error', onError).off('exit', onEarlyExit);
        child.stderr.removeAllListeners('data');
        if (options.output) child.stderr.on('data', options.output);
        else child.stderr.resume();
        resolve({ url: `nats://${options.host ?? '127.0.0.1'}:${port}`, port, process: child, stop });
      }
    });
  });
}
