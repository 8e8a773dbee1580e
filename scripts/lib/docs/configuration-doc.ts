import { relative } from 'node:path';
import { recordingEnvReader, type RecordedVariable } from '../../../common/env-recorder.js';
import { ROOT } from '../child-process.js';
import { CONFIG_SOURCES, PROCESS_NAMES, type ProcessName } from './config-sources.js';
import { generatedNotice, table } from './markdown.js';
import { NOT_SETTINGS, VARIABLES_OUTSIDE_READERS } from './outside-readers.js';

/** One row of the reference: a variable as one or more processes read it alike. */
export interface ConfigRow extends Omit<RecordedVariable, 'fallback'> {
  fallback?: string;
  readers: ProcessName[];
}

/** Every variable each process reads, through its readers or from the explicit list, merged into rows. */
export function collectConfigRows(): ConfigRow[] {
  const rows = new Map<string, ConfigRow>();
  const add = (variable: Omit<ConfigRow, 'readers'>, reader: ProcessName) => {
    // Reads that say the same (shared readers) make one row; a process that reads a variable
    // its own way (npm start's NATS_URL) gets a row of its own.
    const { name, kind, fallback, shownDefault, doc, min, max, allowed } = variable;
    const key = JSON.stringify([name, kind, fallback, shownDefault, doc, min, max, allowed]);
    const row = rows.get(key) ?? { ...variable, readers: [] };
    if (!row.readers.includes(reader)) row.readers.push(reader);
    rows.set(key, row);
  };
  for (const process of PROCESS_NAMES) {
    const { read, variables } = recordingEnvReader();
    CONFIG_SOURCES[process](read);
    for (const variable of variables) add(variable, process);
  }
  for (const { readers, file: _file, ...variable } of VARIABLES_OUTSIDE_READERS)
    for (const reader of readers) add(variable, reader);
  return [...rows.values()];
}

interface Section {
  title: string;
  intro: string;
  /** True for the rows this section shows (each row shows in the first section that holds it). */
  holds(readers: readonly ProcessName[]): boolean;
  /** Processes whose every variable the section names, also those shown above. */
  lists?: readonly ProcessName[];
}

const TOOLS: readonly ProcessName[] = ['npm run keys', 'npm run bus:setup', 'npm run replay', 'npm run bus:request'];

const SECTIONS: readonly Section[] = [
  {
    title: 'Gateway and worker',
    intro: 'Both read these: give them the same values (but each role its own NATS user and password).',
    holds: (readers) => readers.includes('gateway') && readers.includes('worker'),
  },
  { title: 'Gateway', intro: '`npm run gateway`.', holds: (readers) => readers.includes('gateway') },
  {
    title: 'Worker',
    intro: "`npm run worker` (and `npm run migrate`, which reads the worker's `DATA_DIR` or `DATABASE_URL`).",
    holds: (readers) => readers.includes('worker'),
  },
  {
    title: '`npm start`',
    intro: `What \`npm start\` reads itself. It checks the gateway's and the worker's settings before starting
anything, and passes its environment on to both, with \`NATS_URL\`, \`DATA_DIR\` and, on the
bundled bus, each role's \`NATS_USER\` and \`NATS_PASSWORD_FILE\`.`,
    holds: (readers) => readers.includes('npm start'),
  },
  {
    title: 'Command-line tools',
    intro: `\`npm run bus:setup\` connects as the \`admin\` bus user, \`npm run replay\` and \`npm run bus:request\`
as \`replay\`; their \`--nats\` and \`--prefix\` flags come before \`NATS_URL\` and \`SUBJECT_PREFIX\`.`,
    holds: (readers) => readers.some((reader) => TOOLS.includes(reader)),
    lists: TOOLS,
  },
  {
    title: 'Benchmark',
    intro: '`npm run bench`; a flag comes before each variable ([BENCHMARKS.md](../BENCHMARKS.md)).',
    holds: (readers) => readers.includes('npm run bench'),
  },
  {
    title: 'Tests',
    intro: '`npm test` and single test files (`npx tap test/e2e/<file>.test.ts`).',
    holds: (readers) => readers.includes('npm test'),
  },
];

/** The default as the reference shows it: paths inside the repository relative to it. */
function shownDefault(row: ConfigRow): string {
  if (row.shownDefault !== undefined) return row.shownDefault;
  if (row.fallback === undefined || row.fallback === '') return '—';
  const value = row.fallback.startsWith(ROOT) ? relative(ROOT, row.fallback) : row.fallback;
  return `\`${value}\``;
}

function values(row: ConfigRow): string {
  const listed = (row.allowed ?? []).map((value) => `\`${value}\``).join(', ');
  switch (row.kind) {
    case 'integer':
      return row.min === undefined || row.max === undefined ? 'integer' : `integer ${row.min}–${row.max}`;
    case 'url':
      return `URL (${(row.allowed ?? []).map((protocol) => protocol.replace(/:$/, '')).join(', ')})`;
    case 'choice':
      return listed;
    case 'list':
      return 'comma list';
    case 'choice list':
      return `comma list of ${listed}`;
    case 'text':
      return 'text';
  }
}

/** The variables `process` reads, as a list of names. */
const namesReadBy = (rows: readonly ConfigRow[], process: ProcessName): string =>
  [...new Set(rows.filter((row) => row.readers.includes(process)).map((row) => row.name))]
    .sort()
    .map((name) => `\`${name}\``)
    .join(', ');

const readBy = (row: ConfigRow): string => row.readers.map((reader) => reader.replace(/^npm (run )?/, '')).join(', ');

const INTRO = `# Configuration

Every setting is an environment variable. Each process checks its own at start and stops with a
message naming every bad one at once (\`PORT="x" must be an integer between 0 and 65535\`); an
empty value counts as unset. Lists are comma-separated. The tables come from the code that reads
each variable (\`common/env.ts\` and its callers), so they say exactly what the code does.

The settings that are files:`;

/** The configuration files: file, variable, what it holds, where it is explained. */
const FILES: readonly (readonly string[])[] = [
  [
    '`config/agents.json`',
    '`AGENTS_FILE`',
    'the agents: prompts, models, provider chains, fallbacks, timeouts',
    '[agents.md](agents.md), [schema](schemas/agent-catalog.schema.json)',
  ],
  [
    '`config/routing.json`',
    '`ROUTING_FILE`',
    'the router\'s rules for `model: "auto"`',
    '[routing.md](routing.md), [schema](schemas/routing-table.schema.json)',
  ],
  [
    '`config/rate-tiers.json`',
    '`RATE_TIERS_FILE`',
    'requests per minute/hour/day and concurrent streams per tier',
    '[security.md](security.md#rate-limits), [schema](schemas/rate-tiers.schema.json)',
  ],
  [
    '`config/secrets.json`',
    '`SECRET_PATTERNS_FILE`',
    'patterns of secrets to mask, and to keep requests holding one private',
    '[agents.md](agents.md#private-requests-and-redaction), [schema](schemas/secret-patterns.schema.json)',
  ],
  [
    '`data/keys.json`',
    '`KEYS_FILE`',
    'API keys (their hashes), scopes, tiers; written by `npm run keys`',
    '[security.md](security.md#api-keys), [schema](schemas/keys-file.schema.json)',
  ],
  [
    '`nats.conf`',
    '`NATS_CONF`',
    'the bundled nats-server: a user per role, JetStream, TLS',
    '[security.md](security.md#securing-the-bus)',
  ],
];

/** docs/configuration.md, from the readers. */
export function renderConfigurationDoc(): string {
  const rows = collectConfigRows();
  const placed = new Set<ConfigRow>();
  const parts = [
    generatedNotice('the EnvReader calls (common/env.ts)'),
    '',
    INTRO,
    '',
    table(['file', 'variable', 'what', 'reference'], FILES),
  ];
  for (const section of SECTIONS) {
    const mine = rows.filter((row) => !placed.has(row) && section.holds(row.readers));
    mine.forEach((row) => placed.add(row));
    mine.sort((a, b) => a.name.localeCompare(b.name));
    parts.push('', `## ${section.title}`, '', section.intro);
    if (section.lists)
      parts.push(
        '',
        table(
          ['command', 'reads'],
          section.lists.map((process) => [`\`${process}\``, namesReadBy(rows, process)]),
        ),
      );
    if (mine.length > 0)
      parts.push(
        '',
        table(
          ['variable', 'default', 'values', 'read by', 'meaning'],
          mine.map((row) => [`\`${row.name}\``, shownDefault(row), values(row), readBy(row), row.doc]),
        ),
      );
  }
  const notSettings = NOT_SETTINGS.length > 1 ? 'are not agentbus settings' : 'is not an agentbus setting';
  const outside = VARIABLES_OUTSIDE_READERS.map((variable) => `\`${variable.name}\``).join(', ');
  parts.push(
    '',
    '## Read where they are used',
    '',
    `${outside} are read where they are used, so they are not checked at start. The code also reads`,
    `${NOT_SETTINGS.map((name) => `\`${name}\``).join(', ')}, which ${notSettings}.`,
    '',
  );
  return parts.join('\n');
}
