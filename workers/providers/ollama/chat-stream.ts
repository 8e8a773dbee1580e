import { STATUS_CODES } from 'node:http';
import type { Readable } from 'node:stream';
import { request } from 'undici';
import type { ChatRequest as OllamaChatRequest, ChatResponse } from 'ollama';

/** An HTTP error status from Ollama, shaped as ollama-js's ResponseError (errors.ts reads both). */
export class OllamaResponseError extends Error {
  constructor(
    message: string,
    readonly status_code: number,
  ) {
    super(message);
    this.name = 'ResponseError';
  }
}

/**
 * The lines of one `/api/chat` stream, in batches (those of one read of the body); `abort()`
 * lets go of the connection early.
 */
export interface OllamaChatStream extends AsyncIterable<ChatResponse[]> {
  abort(): void;
}

// What the error body says, as ollama-js reads it: the JSON `error` field, else the text,
// else "Error <status>: <reason>".
async function errorMessage(
  status: number,
  contentType: string | undefined,
  body: { json(): Promise<unknown>; text(): Promise<string> },
): Promise<string> {
  const fallback = `Error ${status}: ${STATUS_CODES[status] ?? ''}`;
  try {
    if (contentType?.includes('application/json'))
      return ((await body.json()) as { error?: string })?.error || fallback;
    return (await body.text()) || fallback;
  } catch {
    return fallback;
  }
}

/**
 * The `ollama` client's rule for its cloud: `OLLAMA_API_KEY` (read at each call, as it does)
 * as a bearer token, only for https://ollama.com, so a key set for the cloud never goes to a
 * local or other server. The client reads it from the environment itself for the calls it
 * still makes (probe, `/api/show`), so this path reads the same variable the same way.
 */
export function ollamaAuthHeaders(url: string): Record<string, string> {
  const key = process.env['OLLAMA_API_KEY'];
  if (!key) return {};
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'https:' && parsed.hostname === 'ollama.com' ? { authorization: `Bearer ${key}` } : {};
  } catch {
    return {};
  }
}

/**
 * The next text chunk of the body. A body that breaks off throws as fetch's did, a TypeError
 * "terminated" with the socket error as `cause`, so the mid-answer error still names its code
 * (`failed mid-answer: UND_ERR_SOCKET`, errors.ts) rather than undici's bare message.
 */
async function nextChunk(chunks: AsyncIterator<string>): Promise<IteratorResult<string>> {
  try {
    return await chunks.next();
  } catch (err) {
    throw new TypeError('terminated', { cause: err });
  }
}

/**
 * The JSON lines of `text` (whole lines) up to the first `done` line; lines that are not JSON
 * are skipped. A line with `error` ends them: it is the `failure`, after the lines before it.
 */
function parsedLines(text: string): { lines: ChatResponse[]; done: boolean; failure?: Error } {
  const lines: ChatResponse[] = [];
  for (const part of text.split('\n')) {
    if (part === '') continue;
    let line: ChatResponse & { error?: string };
    try {
      line = JSON.parse(part) as ChatResponse & { error?: string };
    } catch {
      continue;
    }
    if ('error' in line) return { lines, done: false, failure: new Error(line.error) };
    lines.push(line);
    if (line.done) return { lines, done: true };
  }
  return { lines, done: false };
}

/**
 * The lines of each read of the body at once: one step of the async iteration per read, not per
 * line (a whole short answer is often one read), where most of the parsing CPU went. `state.complete`
 * once the done line came. Declared here, not per request: a generator function made per call
 * keeps all it captured alive until a full collection (BENCHMARKS.md, "Garbage collection").
 */
async function* batches(stream: Readable, state: { complete: boolean }): AsyncGenerator<ChatResponse[]> {
  // Not destroyed on return: after the done line, abort() reads the rest (the chunked end)
  // so the connection stays in the pool.
  const chunks = stream.iterator({ destroyOnReturn: false }) as AsyncIterator<string>;
  let buffer = '';
  try {
    for (;;) {
      const next = await nextChunk(chunks);
      // What follows the last newline at the end of the body is a line too.
      const end = next.done ? buffer.length : (buffer += next.value).lastIndexOf('\n');
      if (end === -1) continue;
      const { lines, done, failure } = parsedLines(buffer.slice(0, end));
      buffer = buffer.slice(end + 1);
      state.complete ||= done;
      if (lines.length > 0) yield lines;
      if (failure) throw failure;
      if (done || next.done) break;
    }
  } finally {
    await chunks.return?.();
  }
  if (state.complete) return;
  throw new Error('Did not receive done or success response in stream.');
}

/**
 * `POST /api/chat` (streamed NDJSON) with undici's `request`, with the behaviour of the
 * `ollama` client's `chat()`: an error status throws {@link OllamaResponseError}, a connection
 * failure, before or during the answer, throws with the socket error as `cause` (as fetch
 * does), `OLLAMA_API_KEY` goes to ollama.com as the client sends it, a line with `error` throws
 * it, lines that are not JSON are skipped, and a stream that ends without its `done` line
 * throws. The client itself stays for the rare calls (probe, `/api/show`): through WHATWG
 * fetch — Request, Response, web streams, AbortSignal.any, an abort per call — each chat cost
 * the worker about four times the CPU of this plain request (BENCHMARKS.md).
 */
export async function postChat(
  url: string,
  body: OllamaChatRequest & { stream: true },
  signal: AbortSignal,
): Promise<OllamaChatStream> {
  let res;
  try {
    res = await request(`${url}/api/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...ollamaAuthHeaders(url) },
      body: JSON.stringify(body),
      signal,
    });
  } catch (err) {
    if (signal.aborted) throw err;
    throw new TypeError('fetch failed', { cause: err });
  }
  const { statusCode, headers, body: stream } = res;
  if (statusCode < 200 || statusCode > 299) {
    const contentType = headers['content-type'];
    throw new OllamaResponseError(
      await errorMessage(statusCode, Array.isArray(contentType) ? contentType[0] : contentType, stream),
      statusCode,
    );
  }
  stream.setEncoding('utf8');
  const state = { complete: false };
  return {
    [Symbol.asyncIterator]: () => batches(stream, state),
    abort() {
      if (stream.readableEnded) return;
      // Answer complete: take the rest of the body and keep the connection; else hang up.
      if (state.complete) stream.dump().catch(() => undefined);
      // undici reports a body destroyed before its end as an 'error' (RequestAbortedError):
      // nobody reads it any more, and it must not become an uncaught exception.
      else stream.on('error', () => undefined).destroy();
    },
  };
}
