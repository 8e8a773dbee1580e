import type { Ollama } from 'ollama';
import { AgentbusError, type ChatMessage } from '../../../bus-schemas/index.js';

// What a model can do rarely changes; asking Ollama once a minute per model is plenty.
const CACHE_MS = 60_000;

/**
 * Refuses images for a model that cannot see them, with a 400 that says so, instead of letting
 * Ollama answer as if the picture were not there. Asks `/api/show` for the model's
 * capabilities; an Ollama too old to report them is trusted to complain itself.
 */
export function createImageCheck(url: string) {
  const known = new Map<string, { vision: boolean | undefined; at: number }>();

  return async function assertImagesSupported(
    client: () => Ollama,
    model: string,
    messages: readonly ChatMessage[],
  ): Promise<void> {
    if (!messages.some((m) => m.role === 'user' && m.images)) return;
    let entry = known.get(model);
    if (!entry || Date.now() - entry.at > CACHE_MS) {
      const shown = await client().show({ model });
      const capabilities = (shown as { capabilities?: unknown }).capabilities;
      entry = { vision: Array.isArray(capabilities) ? capabilities.includes('vision') : undefined, at: Date.now() };
      known.set(model, entry);
    }
    if (entry.vision === false) {
      throw new AgentbusError(
        'invalid_request',
        `The model "${model}" at ${url} (OLLAMA_URL) does not take images (it has no "vision" capability). ` +
          'Send text only, or give this agent a vision model such as llava in AGENTS_FILE.',
        { param: 'messages' },
      );
    }
  };
}
