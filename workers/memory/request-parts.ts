import type { ExpressionBuilder } from 'kysely';
import type { MemoryDatabase } from './schema.js';

/**
 * The client request a request id belongs to. A fan-out sends one client request `R` to
 * several agents as `R` (the first agent), `R.<agent>` and `R.aggregate`; all share the root `R`.
 */
export function requestRoot(requestId: string): string {
  const dot = requestId.indexOf('.');
  return dot === -1 ? requestId : requestId.slice(0, dot);
}

/** Whether a request id is a fan-out part's own (`R.<agent>`): the bus's, never given to a client. */
export function isPartId(requestId: string): boolean {
  return requestId.includes('.');
}

/** The request ids of the fan-out parts of `root` as a range: `low <= request_id < high`. */
export function partRange(root: string): [low: string, high: string] {
  // A range rather than LIKE: ids contain "_", a LIKE wildcard, and a range can use the
  // request_id index. "/" is the byte after ".", and SQLite compares text bytewise (as does
  // PostgreSQL here: the column is collated "C", see the first migration), so
  // [root + ".", root + "/") holds exactly the ids that start with root + ".".
  return [`${root}.`, `${root}/`];
}

/** A client request as query parameters: its id and its fan-out parts' range (see partRange). */
export interface RequestParts {
  root: string;
  low: string;
  high: string;
}

/** The {@link RequestParts} of `root`. */
export function requestParts(root: string): RequestParts {
  const [low, high] = partRange(root);
  return { root, low, high };
}

/**
 * The turns of one client request: `root` itself and its fan-out parts (`low <= request_id < high`).
 * The bounds are parameters, not derived here: a prepared query binds each by name (prepared-query.ts).
 */
export const ofRequest = (eb: ExpressionBuilder<MemoryDatabase, 'turns'>, p: RequestParts) =>
  eb.or([
    eb('turns.request_id', '=', p.root),
    eb.and([eb('turns.request_id', '>=', p.low), eb('turns.request_id', '<', p.high)]),
  ]);
