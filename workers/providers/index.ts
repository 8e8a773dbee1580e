import { createLlamaCppProvider, type LlamaCppSettings } from './llama-cpp/index.js';
import { createOllamaProvider } from './ollama/index.js';
import { createOpenAIProvider, type OpenAISettings } from './openai/index.js';
import type { ChatProvider } from './types.js';
import { PROVIDER_NAMES, type ProviderName } from '../../common/agent-catalog.schema.js';

export type {
  ChatProvider,
  FinishReason,
  ProviderChatRequest,
  ProviderEvent,
  ProviderToolCall,
  ProbeResult,
} from './types.js';

/** Settings every provider may read; each takes what it needs. */
export interface ProviderSettings {
  ollamaUrl: string;
  llamaCpp?: LlamaCppSettings;
  openai?: OpenAISettings;
}

/**
 * llama-cpp's defaults: one thread suits small machines (more crawl on 2 cores), one sequence;
 * 512 tokens per answer unless the request says otherwise — a few paragraphs, well within
 * REQUEST_TIMEOUT_MS on a CPU.
 */
export const LLAMA_CPP_DEFAULTS: LlamaCppSettings = {
  modelPath: undefined,
  threads: 1,
  parallel: 1,
  contextSize: 4096,
  maxTokens: 512,
};
/** openai's defaults: OpenAI itself, with the key from the environment. */
export const OPENAI_DEFAULTS: OpenAISettings = { baseUrl: 'https://api.openai.com/v1', apiKey: undefined };

// The registry: one entry per folder under providers/ (the same file names in each).
const factories = {
  ollama: (settings: ProviderSettings) => createOllamaProvider({ url: settings.ollamaUrl }),
  'llama-cpp': (settings: ProviderSettings) => createLlamaCppProvider(settings.llamaCpp ?? LLAMA_CPP_DEFAULTS),
  openai: (settings: ProviderSettings) => createOpenAIProvider(settings.openai ?? OPENAI_DEFAULTS),
} satisfies Record<ProviderName, (settings: ProviderSettings) => ChatProvider>;

// The names live with the catalog schema, which validates provider chains against them.
export { PROVIDER_NAMES, type ProviderName };

/** Creates the provider called `name`. */
export function createProvider(name: ProviderName, settings: ProviderSettings): ChatProvider {
  return factories[name](settings);
}
