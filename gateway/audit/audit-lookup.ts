import { JetStreamApiCodes, JetStreamApiError, type JetStreamManager, type StoredMsg } from '@nats-io/jetstream';
import type { MsgHdrs } from '@nats-io/transport-node';

/** The header the gateway sets on every envelope it publishes (docs/bus.md). */
export const REQUEST_ID_HEADER = 'Agentbus-Request-Id';

/** One envelope as the audit stream holds it: published on `subject`, `seq` in the stream. */
export interface StoredEnvelope {
  seq: number;
  subject: string;
  /** The headers it was published with (`Agentbus-Request-Id`, `traceparent`), if any. */
  headers: MsgHdrs | undefined;
  data: Uint8Array;
  time: Date;
  /** Its `Agentbus-Request-Id` header, else the `request_id` of its body, else undefined. */
  requestId: string | undefined;
}

/** The envelope stored at `seq`, or undefined when the stream has no message there. */
export async function envelopeAt(
  jsm: JetStreamManager,
  stream: string,
  seq: number,
): Promise<StoredEnvelope | undefined> {
  let msg: StoredMsg | null;
  try {
    msg = await jsm.streams.getMessage(stream, { seq });
  } catch (err) {
    // Older servers answer "no message found" as an API error rather than an empty result.
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.NoMessageFound) return undefined;
    throw err;
  }
  if (!msg) return undefined;
  const headers = msg.header && msg.header.keys().length > 0 ? msg.header : undefined;
  return {
    seq: msg.seq,
    subject: msg.subject,
    headers,
    data: msg.data,
    time: msg.time,
    requestId: headerId(headers) ?? bodyId(msg.data),
  };
}

export interface FindOptions {
  /** Look at the newest this many envelopes at most (default 10 000). */
  maxScan?: number;
  /** Stop looking after this many ms (default 10 000). */
  timeoutMs?: number;
}

export interface FindResult {
  /** Envelopes whose request id is exactly the one asked for, oldest first. */
  exact: Array<{ seq: number; requestId: string }>;
  /** The other parts of the same client request (`<id>.<agent>`, `<id>.aggregate`, `<id>.1`), oldest first. */
  parts: Array<{ seq: number; requestId: string }>;
  /** Envelopes looked at. */
  scanned: number;
  /** False when the time limit stopped the search before the newest envelope. */
  complete: boolean;
}

/** How many envelopes are fetched at once while searching. */
const SCAN_CONCURRENCY = 32;

/**
 * Finds the envelopes of a request id among the newest `maxScan` of the stream, oldest first.
 * It reads message by message (STREAM.MSG.GET, 32 at a time) rather than through a consumer:
 * the replay user may not create consumers (nats.conf: a push consumer delivers wherever its
 * creator says, with the server's rights). Each envelope's `Agentbus-Request-Id` header names
 * it, else its body's `request_id` (published by hand).
 */
export async function findEnvelopes(
  jsm: JetStreamManager,
  stream: string,
  requestId: string,
  options: FindOptions = {},
): Promise<FindResult> {
  const { maxScan = 10_000, timeoutMs = 10_000 } = options;
  const result: FindResult = { exact: [], parts: [], scanned: 0, complete: true };
  const { state } = await jsm.streams.info(stream);
  if (state.messages === 0 || maxScan <= 0) return result;
  const lastSeq = state.last_seq;
  const startSeq = Math.max(state.first_seq, lastSeq - maxScan + 1);
  const stopAt = Date.now() + timeoutMs;
  for (let from = startSeq; from <= lastSeq; from += SCAN_CONCURRENCY) {
    if (Date.now() >= stopAt) {
      result.complete = false;
      break;
    }
    const seqs = Array.from({ length: Math.min(SCAN_CONCURRENCY, lastSeq - from + 1) }, (_, i) => from + i);
    // A sequence with no message (expired, deleted) is skipped.
    const batch = await Promise.all(seqs.map((seq) => envelopeAt(jsm, stream, seq)));
    for (const stored of batch) {
      if (!stored) continue;
      result.scanned++;
      const id = stored.requestId;
      if (id === requestId) result.exact.push({ seq: stored.seq, requestId: id });
      else if (id?.startsWith(`${requestId}.`)) result.parts.push({ seq: stored.seq, requestId: id });
    }
  }
  return result;
}

function headerId(headers: MsgHdrs | undefined): string | undefined {
  const id = headers?.get(REQUEST_ID_HEADER);
  return id ? id : undefined;
}

function bodyId(data: Uint8Array): string | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(data).toString('utf8'));
    const id = (value as { request_id?: unknown } | null)?.request_id;
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}
