import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { loadCatalog } from '../../common/catalog.js';
import { readEnv, type EnvReader } from '../../common/env.js';
import { readAgentsFile, readDataDir, readSubjectPrefix } from '../../common/shared-settings.js';
import { DEFAULT_CACHE_BUCKET } from '../../workers/cache/response-cache.js';
import { reloadBundledNats } from './nats-server-conf.js';
import { CredentialsUsageError, mintScopedWorker, readScopedWorkers } from './worker-credentials.js';

const USAGE = `usage: npm run bus:credentials -- <command>

  worker --agents a,b [--name NAME]
         makes the bus user worker-NAME (NAME default: random), allowed to serve only those agents:
         their queue groups, cancels and response cache keys, answers only on their reply inboxes.
         Its password goes to DATA_DIR/nats-credentials/worker-NAME.password (copy it to the worker's
         host); npm start's nats-server takes the user at once (a reload); for a server of your own,
         paste DATA_DIR/nats-credentials/worker-NAME.conf into the users list of its nats.conf.
  list   the scoped worker users and their agents (never a password)

Reads DATA_DIR (default ./data), SUBJECT_PREFIX and AGENTS_FILE (agent names are checked).
Exit code: 0 done; 1 a file cannot be read or written; 2 a usage error.`;

/** Where a run reads its settings and writes its output: a process, or a test in-process. */
export interface CredentialsIo {
  env: NodeJS.ProcessEnv;
  out(text: string): void;
  err(text: string): void;
}

/** What `npm run bus:credentials` reads (docs/configuration.md lists it). */
export function readBusCredentialsSettings(read: EnvReader) {
  return {
    dataDir: resolve(readDataDir(read)),
    subjectPrefix: readSubjectPrefix(read),
    agentsFile: readAgentsFile(read),
  };
}

function worker(io: CredentialsIo, args: string[]): void {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: { agents: { type: 'string' }, name: { type: 'string' } },
  });
  if (positionals.length > 0) throw new CredentialsUsageError(`unexpected argument "${positionals[0]}"`);
  const read = readEnv(io.env);
  const { dataDir, subjectPrefix, agentsFile } = readBusCredentialsSettings(read);
  read.done();
  const agents = (values.agents ?? '')
    .split(',')
    .map((agent) => agent.trim())
    .filter(Boolean);
  const catalog = loadCatalog(agentsFile);
  const unknown = agents.filter((agent) => !catalog.get(agent));
  if (unknown.length > 0)
    throw new CredentialsUsageError(
      `unknown agent(s): ${unknown.join(', ')}; the catalog ${catalog.file} has: ${catalog.names.join(', ')}`,
    );
  const minted = mintScopedWorker(dataDir, {
    agents,
    name: values.name,
    names: { subjectPrefix, cacheBucket: DEFAULT_CACHE_BUCKET },
  });
  const { user } = minted.worker;
  const reloaded = reloadBundledNats(dataDir);
  io.out(
    [
      `bus user ${user}: a worker of ${agents.join(', ')} only`,
      `  password  ${minted.passwordFile} (copy it to the worker's host; never printed)`,
      `  run       NATS_URL=<url> NATS_USER=${user} NATS_PASSWORD_FILE=<that file> ` +
        `npm run worker -- --agents ${agents.join(',')}`,
      reloaded === undefined
        ? "  server    npm start's nats-server takes it on its next start; a server of your own: paste " +
          `${minted.confFile} into the users list of its nats.conf, then nats-server --signal reload`
        : `  server    npm start's nats-server (pid ${reloaded}) reloaded its configuration: the user works now`,
      '',
    ].join('\n'),
  );
}

function list(io: CredentialsIo): void {
  const read = readEnv(io.env);
  const { dataDir } = readBusCredentialsSettings(read);
  read.done();
  const workers = readScopedWorkers(dataDir);
  // Silence would read as "nothing happened"; on stderr, so stdout stays one line per user.
  if (workers.length === 0)
    io.err(
      `no scoped worker users in ${dataDir} (the role users of npm start are not listed); ` +
        'make one with: npm run bus:credentials -- worker --agents a,b\n',
    );
  for (const w of workers) io.out(`${w.user}\t${w.agents.join(',')}\t${w.created_at}\n`);
}

/** One run of `npm run bus:credentials`; returns the exit code. */
export function runBusCredentialsCommand(argv: readonly string[], io: CredentialsIo): number {
  const [command, ...args] = argv;
  try {
    if (command === 'worker') worker(io, args);
    else if (command === 'list') list(io);
    else throw new CredentialsUsageError(command === undefined ? 'name a command' : `unknown command "${command}"`);
    return 0;
  } catch (err) {
    const usage = err instanceof CredentialsUsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    io.err(usage ? `${(err as Error).message}\n\n${USAGE}\n` : `${(err as Error).message}\n`);
    return usage ? 2 : 1;
  }
}
