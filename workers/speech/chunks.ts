import { SPEECH_CHUNK_BYTES } from '../../bus-schemas/index.js';

/**
 * Regroups a byte stream into pieces of exactly `size` bytes (the last may be shorter), so each
 * bus frame carries at most SPEECH_CHUNK_BYTES however the pipe happened to split the audio.
 */
export class Chunker {
  #pending: Buffer[] = [];
  #pendingBytes = 0;

  constructor(private readonly size: number = SPEECH_CHUNK_BYTES) {}

  /** Adds bytes; returns the full chunks they complete. */
  push(bytes: Uint8Array): Buffer[] {
    this.#pending.push(Buffer.from(bytes));
    this.#pendingBytes += bytes.length;
    const out: Buffer[] = [];
    if (this.#pendingBytes < this.size) return out;
    let all = Buffer.concat(this.#pending);
    while (all.length >= this.size) {
      out.push(all.subarray(0, this.size));
      all = all.subarray(this.size);
    }
    this.#pending = all.length > 0 ? [all] : [];
    this.#pendingBytes = all.length;
    return out;
  }

  /** The bytes left over at the end, or nothing. */
  flush(): Buffer[] {
    const rest = Buffer.concat(this.#pending);
    this.#pending = [];
    this.#pendingBytes = 0;
    return rest.length > 0 ? [rest] : [];
  }
}
