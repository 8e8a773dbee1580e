/**
 * The client request a request id belongs to. A fan-out sends one client request `R` to
 * several agents as `R` (the first agent), `R.<agent>` and `R.aggregate`; all share the root `R`.
 */
export function requestRoot(requestId: string): string {
  const dot = requestId.indexOf('.');
  return dot === -1 ? requestId : requestId.slice(0, dot);
}

/** The request ids of the fan-out parts of `root` as a range: `low <= request_id < high`. */
export function partRange(root: string): [low: string, high: string] {
  // A range rather than LIKE: ids contain "_", a LIKE wildcard, and a range can use the
  // request_id index. "/" is the byte after ".", and SQLite compares text bytewise, so
  // [root + ".", root + "/") holds exactly the ids that start with root + ".".
  return [`${root}.`, `${root}/`];
}
