import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { messageFromAjvErrors, type SamplingOptions } from '../bus-schemas/index.js';
import { agentCatalogSchema, type AgentCatalogFile } from './agent-catalog.schema.js';

/** The catalog shipped with the repository. */
export const DEFAULT_AGENTS_FILE = fileURLToPath(new URL('../config/agents.json', import.meta.url));
/** Used when neither the agent nor DEFAULT_MODEL names a model. */
export const BUILTIN_DEFAULT_MODEL = 'llama3.2';
const DEFAULT_HISTORY_TURNS = 10;

/** One agent, with defaults applied. */
export interface Agent {
  readonly name: string;
  readonly description: string;
  readonly systemPrompt: string;
  readonly model: string;
  readonly options: SamplingOptions;
  readonly historyTurns: number;
}

export interface Catalog {
  readonly file: string;
  /** Seconds since the epoch when the catalog file last changed (OpenAI's `created`). */
  readonly created: number;
  readonly agents: readonly Agent[];
  get(name: string): Agent | undefined;
  readonly names: readonly string[];
}

const validateCatalog = new Ajv({ strict: true, allErrors: false }).compile<AgentCatalogFile>(agentCatalogSchema);

/**
 * Loads and validates the agent catalog. Throws an error naming the file and the field at
 * fault, because a worker or gateway that starts with a broken catalog would fail later and
 * less clearly.
 */
export function loadCatalog(file: string = DEFAULT_AGENTS_FILE, defaultModel?: string): Catalog {
  const path = resolve(file);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read agent catalog ${path} (AGENTS_FILE): ${(err as Error).message}`);
  }
  if (!validateCatalog(parsed)) {
    const { message } = messageFromAjvErrors(validateCatalog.errors, 'catalog');
    throw new Error(`invalid agent catalog ${path} (AGENTS_FILE): ${message}`);
  }
  const agents = parsed.agents.map((entry): Agent => Object.freeze({
    name: entry.name,
    description: entry.description,
    systemPrompt: entry.system_prompt,
    model: entry.model ?? defaultModel ?? BUILTIN_DEFAULT_MODEL,
    options: Object.freeze({ ...entry.options }),
    historyTurns: entry.history_turns ?? DEFAULT_HISTORY_TURNS,
  }));
  const byName = new Map<string, Agent>();
  for (const agent of agents) {
    if (byName.has(agent.name)) throw new Error(`invalid agent catalog ${path} (AGENTS_FILE): agent "${agent.name}" is listed twice`);
    byName.set(agent.name, agent);
  }
  return Object.freeze({
    file: path,
    created: Math.floor(statSync(path).mtimeMs / 1000),
    agents: Object.freeze(agents),
    names: Object.freeze(agents.map((a) => a.name)),
    get: (name: string) => byName.get(name),
  });
}

/** The subset of a catalog a worker serves; unknown names are an error that lists the known ones. */
export function selectAgents(catalog: Catalog, names: readonly string[]): Agent[] {
  if (names.length === 0) return [...catalog.agents];
  const unknown = names.filter((name) => !catalog.get(name));
  if (unknown.length > 0) throw new Error(`unknown agent(s) ${unknown.join(', ')}; the catalog ${catalog.file} has: ${catalog.names.join(', ')}`);
  return names.map((name) => catalog.get(name)!);
}
