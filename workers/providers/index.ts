import { createOllamaProvider } from './ollama/index.js';
import type { ChatProvider } from './types.js';

export type { ChatProvider, FinishReason, ProviderChatRequest, ProviderEvent, ProviderToolCall, ProbeResult } from './types.js';

/** Settings every provider may read; each takes what it needs. */
export interface ProviderSettings {
  ollamaUrl: string;
}

// The registry: one entry per folder under providers/. Later providers (openai, llama-cpp)
// are added here with the same file layout as ollama/.
const factories = {
  ollama: (settings: ProviderSettings) => createOllamaProvider({ url: settings.ollamaUrl }),
} satisfies Record<string, (settings: ProviderSettings) => ChatProvider>;

export type ProviderName = keyof typeof factories;

/** Creates the provider called `name`. */
export function createProvider(name: ProviderName, settings: ProviderSettings): ChatProvider {
  return factories[name](settings);
}
