import { statSync } from 'node:fs';
import type { SamplingOptions } from '../bus-schemas/index.js';
import { readJsonConfig } from './json-config-file.js';
import { packagePath } from './package-root.js';
import { ownSchemaAjv } from '../bus-schemas/index.js';
import {
  agentCatalogSchema,
  type AgentCatalogFile,
  type AgentKind,
  type AudioProviderName,
  type ProviderName,
} from './agent-catalog.schema.js';

/** One link of an agent's provider chain. */
export interface ProviderRef {
  readonly provider: ProviderName;
  readonly model: string;
}

/** One link of a voice agent's chain of audio engines. */
export interface AudioProviderRef {
  readonly provider: AudioProviderName;
  readonly model: string;
}

/** The model an `openai` audio link asks for when the catalog names none: OpenAI's own TTS model. */
export const DEFAULT_SPEECH_MODEL = 'tts-1';
/** The model an `openai` transcription link asks for when the catalog names none: OpenAI's Whisper. */
export const DEFAULT_TRANSCRIPTION_MODEL = 'whisper-1';

/** A few-shot example: a user message and the answer the agent should give. */
export interface FewShotExample {
  readonly user: string;
  readonly assistant: string;
}

/** The catalog shipped with the repository. */
export const DEFAULT_AGENTS_FILE = packagePath('config', 'agents.json');
/** Used when neither the agent nor DEFAULT_MODEL names a model. */
export const BUILTIN_DEFAULT_MODEL = 'llama3.2';
const DEFAULT_HISTORY_TURNS = 10;

/** One agent, with defaults applied. */
export interface Agent {
  readonly name: string;
  readonly description: string;
  /** "chat" answers chat requests; "embedding" answers `/v1/embeddings` only. */
  readonly kind: AgentKind;
  /** Empty for an embedding agent (the schema requires it of chat agents). */
  readonly systemPrompt: string;
  /** An embedding model trained to keep its meaning in the leading dimensions: `dimensions` may truncate. */
  readonly matryoshka: boolean;
  /**
   * The agent speaks (`POST /v1/audio/speech`), also under these model names, with this chain of
   * engines (undefined: the worker's SPEECH_PROVIDER); undefined: it does not speak.
   */
  readonly speech?:
    { readonly aliases: readonly string[]; readonly providers: readonly AudioProviderRef[] | undefined } | undefined;
  /**
   * The agent listens (`POST /v1/audio/transcriptions`), also under these model names, with this
   * chain of engines (undefined: the worker's TRANSCRIPTION_PROVIDER); undefined: it does not listen.
   */
  readonly transcription?:
    { readonly aliases: readonly string[]; readonly providers?: readonly AudioProviderRef[] | undefined } | undefined;
  readonly model: string;
  readonly options: SamplingOptions;
  readonly historyTurns: number;
  readonly examples: readonly FewShotExample[];
  /** The catalog's provider chain; undefined → the worker's PROVIDER alone. */
  readonly providers: readonly ProviderRef[] | undefined;
  /** Agent that answers when this one fails before its first token (after one retry). */
  readonly fallback: string | undefined;
  /** Per-agent limits; undefined → the gateway's FIRST_TOKEN_TIMEOUT_MS / REQUEST_TIMEOUT_MS. */
  readonly timeouts: { readonly firstTokenMs?: number; readonly totalMs?: number };
}

export interface Catalog {
  readonly file: string;
  /** Seconds since the epoch when the catalog file last changed (OpenAI's `created`). */
  readonly created: number;
  readonly agents: readonly Agent[];
  get(name: string): Agent | undefined;
  readonly names: readonly string[];
}

const validateCatalog = ownSchemaAjv({ strict: true, allErrors: false }).compile<AgentCatalogFile>(agentCatalogSchema);

/**
 * Loads and validates the agent catalog. Throws an error naming the file and the field at
 * fault, because a worker or gateway that starts with a broken catalog would fail later and
 * less clearly.
 */
export function loadCatalog(file: string = DEFAULT_AGENTS_FILE, defaultModel?: string): Catalog {
  const { path, value: parsed } = readJsonConfig(
    file,
    { name: 'agent catalog', envVar: 'AGENTS_FILE', subject: 'catalog' },
    validateCatalog,
  );
  const agents = parsed.agents.map((entry): Agent =>
    Object.freeze({
      name: entry.name,
      description: entry.description,
      kind: entry.kind ?? 'chat',
      systemPrompt: entry.system_prompt ?? '',
      matryoshka: entry.matryoshka === true,
      speech:
        entry.speech &&
        Object.freeze({
          aliases: Object.freeze([...(entry.speech.aliases ?? [])]),
          providers:
            entry.speech.providers &&
            Object.freeze(
              entry.speech.providers.map((link) =>
                Object.freeze({
                  provider: link.provider,
                  model: link.model ?? (link.provider === 'espeak-ng' ? 'espeak-ng' : DEFAULT_SPEECH_MODEL),
                }),
              ),
            ),
        }),
      transcription:
        entry.transcription &&
        Object.freeze({
          aliases: Object.freeze([...(entry.transcription.aliases ?? [])]),
          providers:
            entry.transcription.providers &&
            Object.freeze(
              entry.transcription.providers.map((link) =>
                Object.freeze({
                  provider: link.provider,
                  model:
                    link.model ?? (link.provider === 'pocketsphinx' ? 'pocketsphinx' : DEFAULT_TRANSCRIPTION_MODEL),
                }),
              ),
            ),
        }),
      model: entry.model ?? defaultModel ?? BUILTIN_DEFAULT_MODEL,
      options: Object.freeze({ ...entry.options }),
      historyTurns: entry.history_turns ?? DEFAULT_HISTORY_TURNS,
      examples: Object.freeze((entry.examples ?? []).map((example) => Object.freeze({ ...example }))),
      providers:
        entry.providers &&
        Object.freeze(
          entry.providers.map((link) =>
            Object.freeze({
              provider: link.provider,
              model: link.model ?? entry.model ?? defaultModel ?? BUILTIN_DEFAULT_MODEL,
            }),
          ),
        ),
      fallback: entry.fallback,
      timeouts: Object.freeze({
        ...(entry.timeouts?.first_token_ms !== undefined ? { firstTokenMs: entry.timeouts.first_token_ms } : {}),
        ...(entry.timeouts?.total_ms !== undefined ? { totalMs: entry.timeouts.total_ms } : {}),
      }),
    }),
  );
  const byName = new Map<string, Agent>();
  for (const agent of agents) {
    if (byName.has(agent.name))
      throw new Error(`invalid agent catalog ${path} (AGENTS_FILE): agent "${agent.name}" is listed twice`);
    byName.set(agent.name, agent);
  }
  for (const agent of agents) {
    if (agent.fallback === undefined) continue;
    if (agent.fallback === agent.name)
      throw new Error(
        `invalid agent catalog ${path} (AGENTS_FILE): agent "${agent.name}" names itself as its fallback`,
      );
    const fallback = byName.get(agent.fallback);
    if (!fallback)
      throw new Error(
        `invalid agent catalog ${path} (AGENTS_FILE): agent "${agent.name}" falls back to "${agent.fallback}", ` +
          'which is not in the catalog',
      );
    if (fallback.kind !== agent.kind)
      throw new Error(
        `invalid agent catalog ${path} (AGENTS_FILE): agent "${agent.name}" (${agent.kind}) falls back to ` +
          `"${agent.fallback}", which is an ${fallback.kind} agent`,
      );
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
  if (unknown.length > 0)
    throw new Error(
      `unknown agent(s) ${unknown.join(', ')}; the catalog ${catalog.file} has: ${catalog.names.join(', ')}`,
    );
  return names.map((name) => catalog.get(name)!);
}
