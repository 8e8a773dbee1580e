import { natsServerAdvisory, natsServerVersionOf } from '../../common/nats-version.js';
import { join, resolve } from 'node:path';
import { ensureNatsServer } from './install-nats.js';
import { writeComposedConf } from './nats-server-conf.js';
import { BUNDLED_NATS_HOST, natsRecordFile, readNatsRecord, writeNatsRecord } from './nats-record.js';
import { chooseNatsPort, configuredNatsPort } from './nats-port.js';
import { startNatsServer, type RunningNatsServer } from './nats-server.js';
import { stopStaleNatsServers } from './stale-nats.js';
import { supervise, type Supervised } from './supervised-process.js';

const HOST = BUNDLED_NATS_HOST;

export interface BundledNatsOptions {
  dataDir: string;
  natsConf: string;
  /** The server's environment on top of ours: the bus users' passwords nats.conf reads. */
  serverEnv: Record<string, string>;
  say: (line: string) => void;
  /** Aborts the first start (the stack is stopped while starting). */
  signal?: AbortSignal;
}

export interface BundledNats {
  readonly url: string;
  readonly storeDir: string;
  /** The running server's pid (a restarted one's once it is back). */
  pid: () => number | undefined;
  /** Stops it for good (last, after the processes using it) and forgets its pid. */
  stop(): Promise<void>;
}

/**
 * The stack's own nats-server on DATA_DIR/nats: one left behind by an earlier start stopped
 * first, then started on the configured port, or on the one chosen last time, and restarted
 * on that same port and store if it dies (JetStream keeps its data on disk; gateway and worker
 * reconnect on their own).
 */
export async function startBundledNats(options: BundledNatsOptions): Promise<BundledNats> {
  const { dataDir, say } = options;
  const binary = ensureNatsServer(say);
  const advisory = natsServerAdvisory(natsServerVersionOf(binary));
  if (advisory) say(`warning: ${advisory}`);
  const confFile = resolve(options.natsConf);
  const storeDir = join(dataDir, 'nats');
  // nats.conf with the scoped worker users of DATA_DIR (npm run bus:credentials) in its users list.
  const runConf = writeComposedConf(dataDir, confFile, storeDir);
  await stopStaleNatsServers(dataDir, storeDir, say);
  const { port, note } = await chooseNatsPort({
    host: HOST,
    configured: await configuredNatsPort(confFile),
    remembered: readNatsRecord(dataDir)?.port,
    confFile,
    recordFile: natsRecordFile(dataDir),
  });
  if (note) say(note);

  const supervised: Supervised<RunningNatsServer> = await supervise(
    {
      name: 'nats-server',
      start: async (_restarts, signal) => {
        const server = await startNatsServer({
          binary,
          configFile: runConf.file,
          storeDirInConfig: runConf.storeDirInConfig,
          host: HOST,
          port,
          storeDir,
          env: { ...process.env, ...options.serverEnv },
          signal,
        });
        writeNatsRecord(dataDir, { port, storeDir, pid: server.process.pid, supervisorPid: process.pid });
        return server;
      },
    },
    {
      say,
      signal: options.signal,
      restarted: (server, restarts) =>
        say(`nats-server is back at ${server.url} (pid ${server.process.pid}, restart ${restarts})`),
    },
  );
  return {
    url: supervised.current.url,
    storeDir,
    pid: () => supervised.current.process.pid,
    async stop() {
      await supervised.stop();
      writeNatsRecord(dataDir, { port, storeDir });
    },
  };
}
