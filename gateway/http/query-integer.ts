import { AgentbusError } from '../../bus-schemas/index.js';

// Plain decimal digits: JavaScript's Number() and ajv's coercion also read "0x10", "1e1", "+1"
// and " 5", which no client means as a count.
const DECIMAL = /^[0-9]{1,9}$/;

/**
 * Refuses a query parameter given more than once (`limit=2&limit=3`, which the query parser reads as
 * an array), naming it: otherwise the type check answers "must be an integer" about a value the client
 * wrote as one, and which of the two was meant is the client's to say. `names`: the ones to check;
 * all of them when left out.
 */
export function refuseRepeatedParameters(query: unknown, names?: readonly string[]): void {
  const record = (query ?? {}) as Record<string, unknown>;
  for (const name of names ?? Object.keys(record)) {
    if (Array.isArray(record[name]))
      throw new AgentbusError(
        'invalid_request',
        `The query parameter "${name.slice(0, 64)}" was given more than once; send it once.`,
        { param: name.slice(0, 64) },
      );
  }
}

/**
 * Refuses a query parameter that is present but not written as plain decimal digits, or given more than
 * once, naming it; the range is left to the caller's own check.
 */
export function requireDecimalDigits(query: unknown, name: string): void {
  refuseRepeatedParameters(query, [name]);
  const value = (query as Record<string, unknown> | undefined)?.[name];
  if (typeof value === 'string' && !DECIMAL.test(value))
    throw new AgentbusError('invalid_request', `${name} must be an integer, written in decimal digits.`, {
      param: name,
    });
}
