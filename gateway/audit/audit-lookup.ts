import { DeliverPolicy, JetStreamApiCodes, JetStreamApiError, type JetStreamManager, type StoredMsg } from '@nats-io/jetstream';
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
export async function envelopeAt(jsm: JetStreamManager, stream: string, seq: number): Promise<StoredEnvelope | undefined> {
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
  return { seq: msg.seq, subject: msg.subject, headers, data: msg.data, time: msg.time, requestId: headerId(headers) ?? bodyId(msg.data) };
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
  /** The other parts of the same client request (`<id>.<agent>`, `<id>.aggregate`), oldest first. */
  parts: Array<{ seq: number; requestId: string }>;
  /** Envelopes looked at. */
  scanned: number;
  /** False when the time limit stopped the search before the newest envelope. */
  complete: boolean;
}

/**
 * Finds the envelopes of a request id among the newest `maxScan` of the stream. It reads only
 * headers (an ordered consumer with `headers_only`); an envelope without the
 * `Agentbus-Request-Id` header (published by hand) is fetched whole and its `request_id` read.
 */
export async function findEnvelopes(jsm: JetStreamManager, stream: string, requestId: string, options: FindOptions = {}): Promise<FindResult> {
  const { maxScan = 10_000, timeoutMs = 10_000 } = options;
  const result: FindResult = { exact: [], parts: [], scanned: 0, complete: true };
  const { state } = await jsm.streams.info(stream);
  if (state.messages === 0 || maxScan <= 0) return result;
  const lastSeq = state.last_seq;
  const startSeq = Math.max(state.first_seq, lastSeq - maxScan + 1);
  const consumer = await jsm.jetstream().consumers.get(stream, {
    headers_only: true,
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: startSeq,
  });
  const messages = await consumer.consume({ max_messages: 512 });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void messages.close();
  }, timeoutMs);
  try {
    for await (const msg of messages) {
      result.scanned++;
      const id = headerId(msg.headers) ?? (await envelopeAt(jsm, stream, msg.seq))?.requestId;
      if (id === requestId) result.exact.push({ seq: msg.seq, requestId: id });
      else if (id?.startsWith(`${requestId}.`)) result.parts.push({ seq: msg.seq, requestId: id });
      if (msg.seq >= lastSeq || result.scanned >= maxScan) break;
    }
  } finally {
    clearTimeout(timer);
    await messages.close();
  }
  result.complete = !timedOut;
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
