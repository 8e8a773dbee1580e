import { AgentbusError } from '../../bus-schemas/index.js';
import type { Agent } from '../../common/catalog.js';

/**
 * The vectors cut to `dimensions` leading values and scaled back to unit length: what OpenAI's
 * `dimensions` does for its Matryoshka-trained text-embedding-3 models. Only an agent whose
 * catalog entry says `matryoshka: true` may do it; for any other model the cut vector would
 * lose meaning silently, so the request is refused by name. `embedded.model` is the model that
 * answered (a GGUF file, a fallback's), not always the catalog's.
 */
export function withDimensions(
  agent: Agent,
  embedded: { vectors: number[][]; model: string },
  dimensions: number | undefined,
): number[][] {
  const { vectors } = embedded;
  if (dimensions === undefined) return vectors;
  if (!agent.matryoshka)
    throw new AgentbusError(
      'invalid_request',
      `"dimensions" cannot be honoured: the embedding agent "${agent.name}" is not marked "matryoshka": true ` +
        'in the agent catalog, and truncating the vectors of other models loses meaning. Leave it out.',
      { param: 'dimensions' },
    );
  const native = vectors[0]?.length ?? 0;
  if (dimensions > native)
    throw new AgentbusError(
      'invalid_request',
      `"dimensions" is ${dimensions}, but the model "${embedded.model}" makes vectors of ${native} dimensions.`,
      { param: 'dimensions' },
    );
  return vectors.map((vector) => {
    const cut = vector.slice(0, dimensions);
    const norm = Math.hypot(...cut);
    return norm > 0 ? cut.map((value) => value / norm) : cut;
  });
}
