import { TRACEPARENT_PATTERN } from '../../bus-schemas/index.js';
import { randomBytesPooled as randomBytes } from '../../common/random-bytes.js';

const TRACEPARENT = new RegExp(TRACEPARENT_PATTERN);

/** The client's W3C traceparent when it is well formed, else a new trace (sampled). */
export function traceparentFor(incoming: string | undefined): string {
  if (incoming !== undefined && TRACEPARENT.test(incoming)) return incoming;
  return `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
}
