import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { AgentbusError } from '../../../bus-schemas/index.js';
import { packagePath } from '../../../common/package-root.js';

/**
 * Where `npm run llama-cpp:install` puts node-llama-cpp: a folder of its own, outside the
 * project's dependency tree, so the default `npm ci` stays small and fast (node-llama-cpp
 * and its optional GPU builds weigh hundreds of MB) and a failed install disables only this
 * provider.
 */
export const LLAMA_CPP_PREFIX = packagePath('.llama-cpp');

export const HOW_TO_INSTALL_LLAMA_CPP =
  'The llama-cpp provider needs node-llama-cpp, an opt-in install: run "npm run llama-cpp:install" ' +
  '(prebuilt CPU binaries from npm, about 100 MB; nothing is compiled).';

/** The parts of node-llama-cpp's API this provider uses (its types are not installed by default). */
export interface NodeLlamaCpp {
  getLlama(options: { gpu: false; build: 'never'; logLevel?: string }): Promise<Llama>;
  LlamaChat: new (options: { contextSequence: LlamaContextSequence }) => LlamaChatSession;
}
export interface Llama {
  loadModel(options: { modelPath: string }): Promise<LlamaModel>;
  /** A grammar that holds generation to a JSON Schema (node-llama-cpp's GBNF subset). */
  createGrammarForJsonSchema(schema: Record<string, unknown>): Promise<LlamaGrammar>;
  /** One of its bundled grammars: "json" holds output to a JSON object. */
  getGrammarFor(type: 'json'): Promise<LlamaGrammar>;
  dispose(): Promise<void>;
}
export interface LlamaModel {
  createContext(options: { contextSize?: { max: number }; threads: number; sequences: number }): Promise<LlamaContext>;
  tokenize(text: string): unknown[];
  readonly tokenizer: Tokenizer;
  /** The GGUF file's metadata: its vocabulary's tokens tell how many token ids there are. */
  readonly fileInfo: { readonly metadata: { readonly tokenizer?: { readonly ggml?: { readonly tokens?: unknown } } } };
  createEmbeddingContext(options: { contextSize?: { max: number }; threads: number }): Promise<LlamaEmbeddingContext>;
  dispose(): Promise<void>;
}
/** A grammar, handed back to node-llama-cpp as is. */
export type LlamaGrammar = object;
export interface LlamaContext {
  /** Tokens it holds: LLAMA_CPP_CONTEXT_SIZE, or less when the model was trained on less. */
  readonly contextSize: number;
  getSequence(): LlamaContextSequence;
  dispose(): Promise<void>;
}
export interface LlamaEmbeddingContext {
  /** One vector for a text or a token array (node-llama-cpp's tokens are numbers). */
  getEmbeddingFor(input: string | readonly number[]): Promise<{ readonly vector: readonly number[] }>;
  dispose(): Promise<void>;
}
export interface LlamaContextSequence {
  /** Tokens this sequence evaluated (the prompt, re-evaluated or not) and generated so far. */
  readonly tokenMeter: { readonly usedInputTokens: number; readonly usedOutputTokens: number };
  dispose(): void;
}
/** A call the model made and its result, in a model turn: the chat wrapper renders both in its syntax. */
export interface ChatModelFunctionCall {
  type: 'functionCall';
  name: string;
  params: unknown;
  result: unknown;
  /** Whether it starts a new group of calls (where a wrapper writes parallel calls together). */
  startsNewChunk?: boolean;
}
export type ChatHistoryItem =
  | { type: 'system'; text: string }
  | { type: 'user'; text: string }
  | { type: 'model'; response: Array<string | ChatModelFunctionCall> };
/** Functions the model may call, each with a JSON Schema its grammar holds the arguments to. */
export type ChatModelFunctions = Readonly<Record<string, { description?: string; params?: Record<string, unknown> }>>;
/** A call node-llama-cpp parsed from the model's output. */
export interface LlamaChatResponseFunctionCall {
  functionName: string;
  params: unknown;
}
/** The model's tokenizer, handed back to node-llama-cpp as is. */
export type Tokenizer = (text: string, specialTokens?: boolean) => unknown[];
/** Renders a chat history as the model's prompt (its chat template, or a general one). */
export interface ChatWrapper {
  generateContextState(options: {
    chatHistory: ChatHistoryItem[];
    availableFunctions?: ChatModelFunctions;
    documentFunctionParams?: boolean;
  }): {
    contextText: { tokenize(tokenizer: Tokenizer): unknown[] };
  };
}
export interface LlamaChatSession {
  readonly chatWrapper: ChatWrapper;
  generateResponse(
    history: ChatHistoryItem[],
    options: {
      onTextChunk?: (text: string) => void;
      signal?: AbortSignal;
      stopOnAbortSignal?: boolean;
      maxTokens?: number;
      temperature?: number;
      topP?: number;
      seed?: number;
      grammar?: LlamaGrammar;
      functions?: ChatModelFunctions;
      documentFunctionParams?: boolean;
    },
  ): Promise<{
    response: string;
    functionCalls?: LlamaChatResponseFunctionCall[];
    metadata: { stopReason: string };
  }>;
  dispose(): void;
}

/** The entry file of the package installed under `prefix`, from its package.json. */
function entryUnder(prefix: string): string | undefined {
  const packageDir = join(prefix, 'node_modules', 'node-llama-cpp');
  const manifest = join(packageDir, 'package.json');
  if (!existsSync(manifest)) return undefined;
  const { exports, main } = JSON.parse(readFileSync(manifest, 'utf8')) as {
    exports?: { '.'?: { import?: string; default?: string } | string };
    main?: string;
  };
  const root = exports?.['.'];
  const entry = typeof root === 'string' ? root : (root?.import ?? root?.default ?? main ?? 'index.js');
  return join(packageDir, entry);
}

/**
 * Loads node-llama-cpp: from the project's dependencies when a user installed it there, else
 * from the opt-in folder. Throws `backend_unreachable` saying how to install it.
 */
export async function loadNodeLlamaCpp(): Promise<NodeLlamaCpp> {
  const specifier = 'node-llama-cpp';
  try {
    return (await import(specifier)) as NodeLlamaCpp;
  } catch {
    // Not in the project's dependencies: the usual case.
  }
  const entry = entryUnder(LLAMA_CPP_PREFIX);
  if (!entry)
    throw new AgentbusError('backend_unreachable', `node-llama-cpp is not installed. ${HOW_TO_INSTALL_LLAMA_CPP}`);
  try {
    return (await import(pathToFileURL(entry).href)) as NodeLlamaCpp;
  } catch (err) {
    throw new AgentbusError(
      'backend_unreachable',
      `node-llama-cpp in ${LLAMA_CPP_PREFIX} does not load (${(err as Error).message}). ` +
        `Reinstall it: ${HOW_TO_INSTALL_LLAMA_CPP}`,
      { cause: err },
    );
  }
}
