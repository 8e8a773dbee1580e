import type { EnvReader } from '../../../common/env.js';
import { readNatsClientSettings } from '../../../common/nats-client.js';
import { readRestarts } from '../../../common/restarts.js';
import { loadGatewayConfig } from '../../../gateway/config.js';
import { loadWorkerConfig } from '../../../workers/config.js';
import { readBenchOptions } from '../../../bench/options.js';
import { natsUrlOf, subjectPrefixOf } from '../bus-exchange.js';
import { readBusCredentialsSettings } from '../bus-credentials-command.js';
import { readBusSetupEnv } from '../bus-setup.js';
import { readChromiumPath } from '../chromium.js';
import { readKeysCommandSettings } from '../keys-settings.js';
import { readNatsServerBin, readNatsServerThreads } from '../nats-server.js';
import { readStartSettings } from '../start-settings.js';

/** The processes docs/configuration.md groups the variables by, in its order. */
export const PROCESS_NAMES = [
  'gateway',
  'worker',
  'npm start',
  'npm run keys',
  'npm run bus:setup',
  'npm run bus:credentials',
  'npm run replay',
  'npm run bus:request',
  'npm run bench',
  'npm test',
] as const;
export type ProcessName = (typeof PROCESS_NAMES)[number];

/** What `npm run replay` and `bus:request` read (scripts/lib/bus-exchange.ts; their flags come first). */
function readBusToolEnv(read: EnvReader): void {
  const natsUrl = natsUrlOf(undefined, read);
  subjectPrefixOf(undefined, read);
  readNatsClientSettings(read, 'replay', natsUrl); // as connectTool does
}

/**
 * What each process reads, run with a recording EnvReader: the same functions the process
 * calls at start, so a variable added there shows up in the reference.
 */
export const CONFIG_SOURCES: Record<ProcessName, (read: EnvReader) => void> = {
  gateway: (read) => {
    loadGatewayConfig({}, read);
    readRestarts(read); // gateway/server.ts
  },
  // `npm run migrate` reads the worker's configuration too (for DATA_DIR).
  worker: (read) => {
    loadWorkerConfig({}, read);
    readRestarts(read); // workers/main.ts
  },
  // Besides the gateway's and the worker's settings, which it checks before starting anything.
  'npm start': (read) => {
    readStartSettings(read);
    readNatsServerBin(read);
    readNatsServerThreads(read);
  },
  'npm run keys': (read) => void readKeysCommandSettings(read),
  'npm run bus:setup': (read) => void readBusSetupEnv(read),
  'npm run bus:credentials': (read) => void readBusCredentialsSettings(read),
  'npm run replay': readBusToolEnv,
  'npm run bus:request': readBusToolEnv,
  'npm run bench': (read) => {
    readBenchOptions([], read);
    readNatsServerBin(read);
    readNatsServerThreads(read);
  },
  'npm test': (read) => {
    readNatsServerBin(read);
    readNatsServerThreads(read);
    readChromiumPath(read);
  },
};
