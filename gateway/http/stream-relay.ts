import type { OutgoingHttpHeaders } from 'node:http';
import type { FastifyReply } from 'fastify';
import { AgentbusError, errorFromWire, type DeltaFrame, type DoneFrame } from '../../bus-schemas/index.js';
import { onAbort, type Call } from '../call/call.js';
import { StoppedBeforeAnswer } from '../call/stopped-before-answer.js';
import { clientLeftBeforeEnd } from './client-left.js';
import { createStreamWriter } from './stream-writer.js';

/** What a format may read while writing: the conversation the ack frame resolved. */
export interface StreamState {
  conversationId: string;
}

/** One streamed wire format (OpenAI SSE, Ollama NDJSON): the bytes for each kind of frame. */
export interface StreamFormat {
  contentType: string;
  /** Headers of this format besides the ones every stream sends. */
  headers?: Record<string, string>;
  /** Written right after the headers; without it the headers are flushed on their own. */
  opening?(state: StreamState): string;
  /** Written for each heartbeat, if the format has a keep-alive (else the headers suffice). */
  keepAlive?: string;
  /** Bytes for a delta ('' for nothing). */
  delta(frame: DeltaFrame, state: StreamState): string;
  /**
   * Written after the answer's last delta and before `done`, for what is made from the whole
   * answer (its speech); a throw ends the stream with `error`, and the turn is not committed.
   */
  beforeDone?(frame: DoneFrame, state: StreamState, write: (text: string) => Promise<void>): Promise<void>;
  /** Bytes that end a complete answer. */
  done(frame: DoneFrame, state: StreamState): string;
  /** Bytes that end a stream cut by `error`: never the format's end-of-answer marker. */
  error(error: AgentbusError): string;
}

export interface StreamRelayOptions {
  /** The session id the request was sent with; the ack frame replaces it with the resolved one. */
  sessionId: string;
  /** A reader that accepts nothing for this long is dropped (and the answer cancelled). */
  stallTimeoutMs: number;
  /**
   * Aborts when the request's key is revoked: the stream then ends with `invalid_api_key`.
   * Required, so a new streamed route cannot leave a revoked key's answer running (HttpChat.streamOptions).
   */
  revoked: AbortSignal;
}

/**
 * Relays reply frames as a streamed HTTP body. Headers are sent only once the model produced
 * something (or is slow enough to need keep-alives), so a request that fails early still gets
 * a plain HTTP error status. A failure after that ends the body with the format's error and
 * not its end-of-answer marker: a truncated answer must never look complete.
 */
export async function relayStream(
  reply: FastifyReply,
  call: Call,
  options: StreamRelayOptions,
  format: StreamFormat,
): Promise<void> {
  const raw = reply.raw;
  const writer = createStreamWriter(reply, call, options.stallTimeoutMs);
  const write = (text: string) => writer.write(text);
  const state: StreamState = { conversationId: options.sessionId };
  let cached = false;
  let started = false;
  // A revoked key's answer stops at once (the worker is told to abort, nothing is stored) and
  // the client learns why, rather than reading on for as long as the model writes.
  let revoked = false;
  const onRevoked = () => {
    revoked = true;
    call.close('API key revoked');
  };
  options.revoked.addEventListener('abort', onRevoked, { once: true });
  if (options.revoked.aborted) onRevoked();
  const revokedKey = () => new AgentbusError('invalid_api_key', 'This API key is no longer valid (revoked).');
  // What a format writes after `done` (spoken audio) goes through this: a revocation ends it there.
  const writeUnlessRevoked = async (text: string) => {
    if (revoked) throw revokedKey();
    await write(text);
  };
  // Too slow a reader, or a `done` whose last events (a Responses summary, spoken audio) took too
  // long to write: cut, unsent bytes and all, so they never complete an answer its worker discarded.
  onAbort(call.overdue, () => raw.destroy());

  const start = async () => {
    if (started) return;
    started = true;
    reply.hijack();
    // A hijacked reply sends only what writeHead is given: what is already on the reply (the call's
    // request id, trace context and rate limits, @fastify/cors's grant) goes out with the stream too.
    raw.writeHead(200, {
      // Node types some names narrower than fastify (a number for Accept-Ranges): these are fastify's to send.
      ...(reply.getHeaders() as OutgoingHttpHeaders),
      'content-type': format.contentType,
      'cache-control': 'no-cache',
      ...format.headers,
      'x-accel-buffering': 'no',
      'x-session-id': state.conversationId,
      'x-cache': cached ? 'HIT' : 'MISS',
    });
    if (format.opening) await write(format.opening(state));
    else raw.flushHeaders();
  };

  const fail = async (error: AgentbusError) => {
    if (!started) throw error;
    // The gateway stopped (GATEWAY_DRAIN_TIMEOUT_MS): cut, as it cuts every connection left.
    if (error instanceof StoppedBeforeAnswer) {
      raw.destroy();
      return;
    }
    reply.log.warn({ code: error.code }, `stream ended with an error: ${error.message}`);
    await write(format.error(error));
    raw.end();
  };

  try {
    for await (const frame of call.frames) {
      switch (frame.type) {
        case 'ack':
          state.conversationId = frame.conversation_id;
          cached = frame.cached === true;
          break;
        case 'heartbeat':
          await start();
          if (format.keepAlive) await write(format.keepAlive);
          break;
        case 'delta': {
          await start();
          const text = format.delta(frame, state);
          if (text) await write(text);
          break;
        }
        case 'error':
          await fail(errorFromWire(frame.error));
          break;
        case 'done':
          await start();
          if (format.beforeDone) await format.beforeDone(frame, state, writeUnlessRevoked);
          if (revoked) throw revokedKey();
          // Gone before its end was written: not delivered, however the write would have gone.
          if (await clientLeftBeforeEnd(raw)) {
            call.close('client closed the stream');
            raw.destroy();
            break;
          }
          await write(format.done(frame, state));
          // Flushed to the client's socket whole (its end marker too): the turn may be committed.
          raw.once('finish', () => call.delivered());
          raw.end();
      }
    }
  } catch (err) {
    await fail(
      err instanceof AgentbusError ? err : new AgentbusError('internal_error', (err as Error).message, { cause: err }),
    );
  } finally {
    options.revoked.removeEventListener('abort', onRevoked);
  }
  if (revoked && !raw.writableEnded) await fail(revokedKey());
  else if (call.closedByClient)
    reply.log.info('client left before the answer finished; the worker was told to cancel it');
  // The client left (call closed) before a terminal frame: nothing more to send.
  if (started && !raw.writableEnded) raw.end();
}
