import { randomFillSync } from 'node:crypto';

// One CSPRNG call per 4 KiB instead of one per id: a chat request takes five ids (request,
// conversation, trace id, span id, reply inbox), and each crypto.randomBytes() call cost more
// than the bytes (BENCHMARKS.md). The bytes are the same kind: from the OS's CSPRNG, each
// handed out once.
const POOL_BYTES = 4096;
const pool = Buffer.allocUnsafe(POOL_BYTES);
let offset = POOL_BYTES;

/** `size` (at most 4 KiB) fresh cryptographically random bytes, as a copy the caller owns. */
export function randomBytesPooled(size: number): Buffer {
  if (size > POOL_BYTES) throw new RangeError(`randomBytesPooled: at most ${POOL_BYTES} bytes`);
  if (offset + size > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const bytes = Buffer.from(pool.subarray(offset, offset + size));
  // Used bytes are never handed out again, even by mistake: overwrite them.
  pool.fill(0, offset, offset + size);
  offset += size;
  return bytes;
}
