import type { EmbedVectorsReply } from '../../bus-schemas/index.js';

/**
 * What an agent's vectors are assumed to weigh before one of its answers was seen: as wide as
 * the widest common embedding models (e5-mistral, Qwen3-Embedding-8B, NV-Embed: 4096). Too wide
 * costs a first batch a few more parts; too narrow would make a part's reply outgrow the bus.
 */
export const ASSUMED_DIMENSIONS = 4096;

/**
 * The widest vectors each embedding agent has answered with on this gateway, so a large batch is
 * cut for what its replies will weigh (batch-parts.ts). The widest, not the latest: a catalog
 * change to a narrower model only costs more parts than needed, never a reply over the bus.
 */
export class EmbedWidths {
  readonly #widest = new Map<string, number>();

  /** How many dimensions the vectors of `agent` will have: `asked` (`dimensions`), else the widest seen. */
  of(agent: string, asked: number | undefined): number {
    return asked ?? this.#widest.get(agent) ?? ASSUMED_DIMENSIONS;
  }

  /** Remembers the width of an answer to a request that did not ask for `dimensions`. */
  saw(agent: string, reply: EmbedVectorsReply): void {
    const first = reply.embeddings[0];
    if (first === undefined) return;
    const width = Buffer.byteLength(first, 'base64') / 4;
    if (width > (this.#widest.get(agent) ?? 0)) this.#widest.set(agent, width);
  }
}
