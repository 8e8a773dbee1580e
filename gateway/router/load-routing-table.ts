import type { Catalog } from '../../common/catalog.js';
import { readJsonConfig } from '../../common/json-config-file.js';
import { routingTableSchema, type RoutingTableFile } from './routing-table.schema.js';
import { compileKeywords, compileScript } from './text-conditions.js';
import { packagePath } from '../../common/package-root.js';
import { ownSchemaAjv } from '../../bus-schemas/index.js';

/** The routing table shipped with the repository. */
export const DEFAULT_ROUTING_FILE = packagePath('config', 'routing.json');
/** The classifier's time limit when the table names none. */
export const DEFAULT_CLASSIFIER_TIMEOUT_MS = 1500;
/** Characters of a rule's script needed when it names no `min_script_chars`. */
export const DEFAULT_MIN_SCRIPT_CHARS = 3;

/** One rule, compiled: its regexes are built once, at load. */
export interface RoutingRule {
  readonly name: string;
  readonly agents: readonly string[];
  readonly aggregator: string | undefined;
  readonly keywords: RegExp | undefined;
  readonly regex: readonly RegExp[];
  readonly codeBlock: boolean;
  readonly script: { readonly name: string; readonly regex: RegExp; readonly minChars: number } | undefined;
}

export interface ClassifierSettings {
  readonly agent: string;
  readonly timeoutMs: number;
  readonly enabled: boolean;
  /** The system's classifier: asked for every key, whatever its scope. */
  readonly system: boolean;
}

/** A validated routing table whose agents all exist in the catalog it was loaded against. */
export interface RoutingTable {
  /** Where it came from, for messages. */
  readonly source: string;
  readonly rules: readonly RoutingRule[];
  readonly defaultAgent: string;
  readonly classifier: ClassifierSettings | undefined;
}

const validateTable = ownSchemaAjv({ strict: true, allErrors: false, verbose: true }).compile<RoutingTableFile>(
  routingTableSchema,
);

/**
 * Compiles an already-parsed table and checks it against the catalog. Every agent it names must
 * exist: a typo would otherwise surface only when a matching request arrives.
 */
export function createRoutingTable(file: RoutingTableFile, catalog: Catalog, source = 'routing table'): RoutingTable {
  const fail = (field: string, problem: string): never => {
    throw new Error(`invalid ${source}: ${field} ${problem}`);
  };
  const checkAgent = (field: string, name: string) => {
    const agent = catalog.get(name);
    if (!agent)
      fail(
        field,
        `names the agent "${name}", which is not in the agent catalog ${catalog.file} ` +
          `(known: ${catalog.names.join(', ')})`,
      );
    if (agent?.kind === 'embedding') fail(field, `names "${name}", an embedding agent, which cannot chat`);
  };
  checkAgent('default', file.default);
  if (file.classifier) checkAgent('classifier.agent', file.classifier.agent);

  const names = new Set<string>();
  const rules = file.rules.map((rule, index): RoutingRule => {
    const at = `rules[${index}]`;
    if (names.has(rule.name)) fail(`${at}.name`, `"${rule.name}" is used by an earlier rule`);
    names.add(rule.name);
    rule.agents.forEach((agent, i) => checkAgent(`${at}.agents[${i}]`, agent));
    if (rule.aggregator !== undefined) {
      checkAgent(`${at}.aggregator`, rule.aggregator);
      if (rule.agents.length < 2) fail(`${at}.aggregator`, 'only applies when the rule names several agents');
    }
    if (
      rule.keywords === undefined &&
      rule.regex === undefined &&
      rule.code_block === undefined &&
      rule.script === undefined
    ) {
      fail(
        at,
        'needs at least one condition (keywords, regex, code_block or script); without one it would match everything',
      );
    }
    if (rule.min_script_chars !== undefined && rule.script === undefined)
      fail(`${at}.min_script_chars`, 'only applies with "script"');
    const regex = (rule.regex ?? []).map(({ pattern, flags }, i) => {
      try {
        return new RegExp(pattern, flags ?? '');
      } catch (err) {
        return fail(`${at}.regex[${i}].pattern`, `is not a valid regular expression: ${(err as Error).message}`);
      }
    });
    let script: RoutingRule['script'];
    if (rule.script !== undefined) {
      try {
        script = {
          name: rule.script,
          regex: compileScript(rule.script),
          minChars: rule.min_script_chars ?? DEFAULT_MIN_SCRIPT_CHARS,
        };
      } catch {
        fail(
          `${at}.script`,
          `"${rule.script}" is not a Unicode script name (such as Bengali, Devanagari, Cyrillic, Han)`,
        );
      }
    }
    return Object.freeze({
      name: rule.name,
      agents: Object.freeze([...rule.agents]),
      aggregator: rule.aggregator,
      keywords: rule.keywords && compileKeywords(rule.keywords),
      regex: Object.freeze(regex),
      codeBlock: rule.code_block === true,
      script: script && Object.freeze(script),
    });
  });

  return Object.freeze({
    source,
    rules: Object.freeze(rules),
    defaultAgent: file.default,
    classifier:
      file.classifier &&
      Object.freeze({
        agent: file.classifier.agent,
        timeoutMs: file.classifier.timeout_ms ?? DEFAULT_CLASSIFIER_TIMEOUT_MS,
        enabled: file.classifier.enabled ?? true,
        system: file.classifier.system ?? false,
      }),
  });
}

/**
 * Loads the routing table (ROUTING_FILE) and checks it against the catalog. Throws an error
 * naming the file, the variable and the field at fault: a gateway started with a broken table
 * would route requests to the wrong agent, or to none.
 */
export function loadRoutingTable(file: string = DEFAULT_ROUTING_FILE, catalog: Catalog): RoutingTable {
  const { value, source } = readJsonConfig(
    file,
    { name: 'routing table', envVar: 'ROUTING_FILE', subject: 'routing table' },
    validateTable,
  );
  return createRoutingTable(value, catalog, source);
}
