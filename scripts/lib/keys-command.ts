import { parseArgs } from 'node:util';
import { loadCatalog } from '../../common/catalog.js';
import { readEnv } from '../../common/env.js';
import {
  DEFAULT_TIER,
  generateKey,
  generateKeyId,
  readKeysFile,
  sha256Hex,
  writeKeysFile,
  type KeyEntry,
} from '../../gateway/auth/keys-file.js';
import { withKeysFileLock } from '../../gateway/auth/keys-file-lock.js';
import { loadRateTiers } from '../../gateway/rate-limit/rate-tiers.js';
import { readKeysCommandSettings } from './keys-settings.js';

const USAGE = `usage: npm run keys -- <command>

  create --name NAME [--agents a,b | --all] [--tier TIER] [--private]
           makes a key, prints it once on stdout (store it now: the file keeps only its SHA-256);
           --agents limits it to those agents (default --all), --tier (a tier of RATE_TIERS_FILE: standard, premium,
           unlimited as shipped; checked against that file) defaults to ${DEFAULT_TIER},
           --private keeps every request of the key on local providers
  list     [--json]  the keys: id, name, agents, tier, private, created, revoked (never a key or hash)
  revoke   <id|name>  the key stops working at once on running gateways (no restart); a word that is
           one key's id and another's name is refused: use the other's name or id

The file is KEYS_FILE (default DATA_DIR/keys.json, DATA_DIR default ./data); agent names are
checked against AGENTS_FILE, tiers against RATE_TIERS_FILE. create and revoke hold KEYS_FILE.lock
while they update the file, so runs at the same time do not lose each other's change. Exit code:
0 done; 1 the keys file, its lock, the catalog or the tiers file cannot be read or written; 2 a
usage error; 3 no key with that id or name.`;

/** A failure with its exit code and a message for stderr. */
class CliError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}
const usage = (message: string) => new CliError(2, `${message}\n\n${USAGE}`);

/** Where a run reads its settings and writes its output: a process, or a test in-process. */
export interface KeysIo {
  env: NodeJS.ProcessEnv;
  out(text: string): void;
  err(text: string): void;
}

/** One run: its settings (read once) and its output. */
interface Run extends KeysIo {
  keysFile: string | undefined;
  agentsFile: string;
  rateTiersFile: string;
}

function file({ keysFile }: Run): string {
  if (keysFile === undefined)
    throw new CliError(
      2,
      'KEYS_FILE=none: there is no keys file to manage. Set KEYS_FILE to a path (or unset it for DATA_DIR/keys.json).',
    );
  return keysFile;
}

/** An option given twice (`--name a --name b`): parseArgs would keep the last without a word. */
function refuseRepeats(tokens: ReadonlyArray<{ kind: string; name?: string }>): void {
  const seen = new Set<string>();
  for (const token of tokens) {
    if (token.kind !== 'option' || token.name === undefined) continue;
    if (seen.has(token.name)) throw usage(`--${token.name} is given more than once; give it once`);
    seen.add(token.name);
  }
}

function create(run: Run, args: string[]): void {
  const { values, positionals, tokens } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    tokens: true,
    options: {
      name: { type: 'string' },
      agents: { type: 'string' },
      all: { type: 'boolean' },
      tier: { type: 'string' },
      private: { type: 'boolean' },
    },
  });
  refuseRepeats(tokens);
  if (positionals.length > 0) throw usage(`create takes no positional argument (got "${positionals[0]}")`);
  const name = values.name;
  if (name === undefined || !/^[A-Za-z0-9._-]{1,64}$/.test(name))
    throw usage('create needs --name NAME: 1-64 letters, digits, ".", "_" or "-"');
  if (values.agents !== undefined && values.all) throw usage('--agents and --all exclude each other');
  const tier = values.tier ?? DEFAULT_TIER;
  // The gateway would limit a name its tiers file lacks as the strictest tier: a typo would pass unseen.
  const tiers = loadRateTiers(run.rateTiersFile);
  if (!tiers.has(tier))
    throw usage(`--tier "${tier}" is not a tier of ${tiers.source}; it has: ${tiers.names.join(', ')}`);
  let agents: KeyEntry['agents'] = '*';
  if (values.agents !== undefined) {
    const names = [
      ...new Set(
        values.agents
          .split(',')
          .map((item) => item.trim())
          .filter(Boolean),
      ),
    ];
    if (names.length === 0) throw usage('--agents needs at least one agent name (or use --all)');
    const catalog = loadCatalog(run.agentsFile);
    const unknown = names.filter((agent) => !catalog.get(agent));
    if (unknown.length > 0)
      throw usage(
        `unknown agent(s): ${unknown.join(', ')}; the catalog ${catalog.file} has: ${catalog.names.join(', ')}`,
      );
    agents = names;
  }
  const path = file(run);
  const key = generateKey();
  const entry = withKeysFileLock(path, () => {
    const content = readKeysFile(path);
    if (content.keys.some((other) => other.name === name))
      throw usage(
        `a key named "${name}" exists already (names are unique, revoked keys included); choose another name`,
      );
    // revoke takes an id or a name: one word naming two keys would be ambiguous.
    if (content.keys.some((other) => other.id === name))
      throw usage(`"${name}" is the id of another key; choose another name`);
    let id = generateKeyId();
    while (content.keys.some((other) => other.id === id || other.name === id)) id = generateKeyId();
    const created: KeyEntry = {
      id,
      name,
      sha256: sha256Hex(key),
      agents,
      tier,
      ...(values.private ? { private: true } : {}),
      created_at: new Date().toISOString(),
    };
    writeKeysFile(path, { ...content, keys: [...content.keys, created] });
    return created;
  });
  // The key alone on stdout, so `KEY=$(npm run -s keys -- create --name ci)` captures just it.
  run.out(`${key}\n`);
  run.err(
    `created key ${entry.id} "${name}" ` +
      `(agents: ${agents === '*' ? 'all' : agents.join(', ')}; tier: ${tier}${values.private ? '; private' : ''}) ` +
      `in ${path}\n` +
      'It is shown this once: the file keeps only its SHA-256.\n',
  );
}

function list(run: Run, args: string[]): void {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: { json: { type: 'boolean' } },
  });
  if (positionals.length > 0) throw usage(`list takes no positional argument (got "${positionals[0]}")`);
  const rows = readKeysFile(file(run)).keys.map((entry) => ({
    id: entry.id,
    name: entry.name,
    // An array for --json readers (`["*"]`: every agent, as `--all`); the table shows it as one cell.
    agents: entry.agents === '*' ? ['*'] : [...entry.agents],
    tier: entry.tier,
    private: entry.private === true,
    created: entry.created_at,
    revoked: entry.revoked_at ?? null,
  }));
  if (values.json) {
    run.out(`${JSON.stringify(rows, null, 2)}\n`);
    return;
  }
  if (rows.length === 0) {
    run.out(`no keys in ${run.keysFile}; create one with: npm run keys -- create --name NAME\n`);
    return;
  }
  const table = [
    ['ID', 'NAME', 'AGENTS', 'TIER', 'PRIVATE', 'CREATED', 'REVOKED'],
    ...rows.map((row) => [
      row.id,
      row.name,
      row.agents[0] === '*' ? 'all' : row.agents.join(','),
      row.tier,
      row.private ? 'yes' : 'no',
      row.created,
      row.revoked ?? '-',
    ]),
  ];
  const widths = table[0]!.map((_, column) => Math.max(...table.map((row) => row[column]!.length)));
  for (const row of table)
    run.out(
      `${row
        .map((cell, column) => cell.padEnd(widths[column]!))
        .join('  ')
        .trimEnd()}\n`,
    );
}

function revoke(run: Run, args: string[]): void {
  const { positionals } = parseArgs({ args, strict: true, allowPositionals: true, options: {} });
  if (positionals.length !== 1) throw usage('revoke takes one key id or name');
  const which = positionals[0]!;
  const path = file(run);
  withKeysFileLock(path, () => {
    const content = readKeysFile(path);
    const byId = content.keys.findIndex((entry) => entry.id === which);
    const byName = content.keys.findIndex((entry) => entry.name === which);
    if (byId >= 0 && byName >= 0 && byId !== byName) {
      const [withId, withName] = [content.keys[byId]!, content.keys[byName]!];
      throw new CliError(
        2,
        `"${which}" is the id of key "${withId.name}" and the name of key ${withName.id}: nothing revoked. ` +
          `Revoke by "${withId.name}" or by ${withName.id}, whichever you mean`,
      );
    }
    const index = byId >= 0 ? byId : byName;
    if (index < 0) throw new CliError(3, `no key with id or name "${which}" in ${path} (see npm run keys -- list)`);
    const entry = content.keys[index]!;
    if (entry.revoked_at !== undefined) {
      run.err(`key ${entry.id} "${entry.name}" was revoked already, at ${entry.revoked_at}\n`);
      return;
    }
    const keys = content.keys.map((item, i) =>
      i === index ? { ...item, revoked_at: new Date().toISOString() } : item,
    );
    writeKeysFile(path, { ...content, keys });
    run.err(`revoked key ${entry.id} "${entry.name}": running gateways refuse it within about a second\n`);
  });
}

const commands: Record<string, (run: Run, args: string[]) => void> = { create, list, revoke };

/** Runs `npm run keys -- <argv>`; returns the exit code (see USAGE). */
export function runKeysCommand(argv: string[], io: KeysIo): number {
  const [command, ...args] = argv;
  try {
    if (command === undefined || command === '--help' || command === 'help') {
      io.out(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    }
    const handler = commands[command];
    if (!handler) throw usage(`unknown command "${command}"`);
    handler({ ...io, ...readKeysCommandSettings(readEnv(io.env)) }, args);
    return 0;
  } catch (err) {
    if (err instanceof CliError) {
      io.err(`keys: ${err.message}\n`);
      return err.exitCode;
    }
    // parseArgs throws TypeErrors with a code for unknown or malformed options.
    if ((err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`keys: ${(err as Error).message}\n\n${USAGE}\n`);
      return 2;
    }
    io.err(`keys: ${(err as Error).message}\n`);
    return 1;
  }
}
