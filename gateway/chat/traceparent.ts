import { TRACEPARENT_PATTERN } from '../../bus-schemas/index.js';
import { randomBytesPooled as randomBytes } from '../../common/random-bytes.js';

const TRACEPARENT = new RegExp(TRACEPARENT_PATTERN);

/**
 * W3C Trace Context calls a traceparent invalid that the pattern alone lets through: version
 * `ff`, or an all-zero trace id or parent id. Kept, every client sending zeros would share one
 * trace id in the logs and the trace log.
 */
function isValidTraceparent(value: string): boolean {
  if (!TRACEPARENT.test(value)) return false;
  const [version, traceId, parentId] = value.split('-');
  return version !== 'ff' && !/^0+$/.test(traceId ?? '') && !/^0+$/.test(parentId ?? '');
}

/**
 * A later version's traceparent as its first 55 characters: W3C Trace Context has a parser read the
 * fields version 00 defines from a higher version's header and ignore what follows them after a dash.
 */
function asKnownFields(value: string): string {
  return value.length > 55 && value[55] === '-' && !value.startsWith('00-') ? value.slice(0, 55) : value;
}

/** The client's W3C traceparent when it is valid, else a new trace (sampled). */
export function traceparentFor(incoming: string | undefined): string {
  const fields = incoming === undefined ? undefined : asKnownFields(incoming);
  if (fields !== undefined && isValidTraceparent(fields)) return fields;
  return `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`;
}
