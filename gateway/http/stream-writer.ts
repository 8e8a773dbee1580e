import type { FastifyReply } from 'fastify';
import type { Call } from '../call/call.js';

/** Writes a streamed response body with backpressure. */
export interface StreamWriter {
  /** Resolves once the text is accepted (or the client is gone): never buffers without bound. */
  write(text: string): Promise<void>;
}

/**
 * A writer for a streamed answer (SSE, NDJSON). The client leaving cancels the call; a reader
 * that accepts nothing for `stallTimeoutMs` is disconnected, which cancels it too.
 */
export function createStreamWriter(reply: FastifyReply, call: Call, stallTimeoutMs: number): StreamWriter {
  const raw = reply.raw;
  // One listener for the whole response. Plain listeners rather than events.once(), which
  // would reject on an 'error' event.
  const closed = new Promise<void>((resolve) =>
    raw.once('close', () => {
      call.close('client closed the stream');
      resolve();
    }),
  );

  return {
    async write(text) {
      if (raw.destroyed || raw.writableEnded) return;
      if (raw.write(text)) return;
      let timer: NodeJS.Timeout | undefined;
      const stalled = new Promise<'stalled'>((resolve) => {
        timer = setTimeout(() => resolve('stalled'), stallTimeoutMs);
      });
      const drained = new Promise<void>((resolve) => raw.once('drain', resolve));
      const outcome = await Promise.race([drained, closed, stalled]);
      clearTimeout(timer);
      if (outcome === 'stalled') {
        reply.log.warn(`client read nothing for ${stallTimeoutMs} ms; dropping the stream`);
        raw.destroy();
      }
    },
  };
}
