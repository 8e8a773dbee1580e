import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { credentialsDir } from './nats-credentials.js';
import { readNatsRecord } from './nats-record.js';
import { scopedWorkerEntries } from './worker-credentials.js';
import { makeDirs } from '../../common/make-dirs.js';

/** The line of nats.conf, in its users list, that the scoped worker users replace. */
export const SCOPED_WORKERS_MARKER = '# agentbus:scoped-workers';

const HEADER = '# agentbus: written by npm start and npm run bus:credentials from ';

/** Where npm start's nats-server reads its configuration: nats.conf with the scoped workers in place. */
export const composedConfFile = (dataDir: string): string => join(credentialsDir(dataDir), 'nats-server.conf');

/** What the configuration was written from, kept in its first line so that a reload writes it alike. */
interface ComposedFrom {
  source: string;
  storeDir?: string | undefined;
}

/**
 * Writes `composedConfFile`: the text of `natsConf` with the marker line replaced by the entries
 * of every scoped worker user (DATA_DIR/nats-credentials/workers.json), mode 0600 (it holds their
 * passwords). nats-server cannot splice a users list from another file or the environment (an
 * `include` is refused inside a list; a variable's map loses its nested maps), hence a copy.
 * `storeDir` goes into its jetstream block (then `storeDirInConfig`): nats-server 2.9 refuses to
 * reload a configuration whose store directory came from `-sd` ("not supported for jetstream
 * storage dir"), so the new users would never arrive.
 */
export function writeComposedConf(
  dataDir: string,
  natsConf: string,
  storeDir?: string,
): { file: string; storeDirInConfig: boolean } {
  const source = resolve(natsConf);
  const text = readFileSync(source, 'utf8');
  const entries = scopedWorkerEntries(dataDir);
  const lines = text.split('\n');
  const at = lines.findIndex((line) => line.trim() === SCOPED_WORKERS_MARKER);
  if (at < 0 && entries !== '')
    throw new Error(
      `${source} (NATS_CONF) has no line "${SCOPED_WORKERS_MARKER}" in its users list, where the scoped worker ` +
        'users go: add it after the last user (the shipped nats.conf has it)',
    );
  if (at >= 0) lines.splice(at, 1, ...(entries === '' ? [] : [entries]));
  const jetstream = storeDir === undefined ? -1 : lines.findIndex((line) => /^jetstream\s*[:=]?\s*\{\s*$/.test(line));
  if (jetstream >= 0) lines.splice(jetstream + 1, 0, `  store_dir: ${JSON.stringify(storeDir)}`);
  const from: ComposedFrom = { source, ...(jetstream >= 0 ? { storeDir } : {}) };
  const file = composedConfFile(dataDir);
  makeDirs(dirname(file), 0o700);
  writeFileSync(`${file}.tmp`, `${HEADER}${JSON.stringify(from)}\n${lines.join('\n')}`, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
  return { file, storeDirInConfig: jetstream >= 0 };
}

/** True when `pid` is a nats-server process (not a recycled pid of something else). */
function isNatsServer(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('nats-server');
  } catch {
    return false;
  }
}

/**
 * Rewrites the composed configuration of npm start's nats-server for `dataDir` and has the
 * running server reload it (SIGHUP: new users work at once, connections stay). Returns the pid
 * reloaded, or undefined when no bundled server runs there (the next npm start picks it up).
 */
export function reloadBundledNats(dataDir: string): number | undefined {
  let from: ComposedFrom;
  try {
    const first = readFileSync(composedConfFile(dataDir), 'utf8').split('\n', 1)[0] ?? '';
    if (!first.startsWith(HEADER)) return undefined;
    from = JSON.parse(first.slice(HEADER.length)) as ComposedFrom;
  } catch {
    return undefined;
  }
  writeComposedConf(dataDir, from.source, from.storeDir);
  const pid = readNatsRecord(dataDir)?.pid;
  if (pid === undefined || !isNatsServer(pid)) return undefined;
  process.kill(pid, 'SIGHUP');
  return pid;
}
