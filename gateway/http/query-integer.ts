import { AgentbusError } from '../../bus-schemas/index.js';

// Plain decimal digits: JavaScript's Number() and ajv's coercion also read "0x10", "1e1", "+1"
// and " 5", which no client means as a count.
const DECIMAL = /^[0-9]{1,9}$/;

/**
 * Refuses a query parameter that is present but not written as plain decimal digits, naming it;
 * the range and a repeated parameter are left to the caller's own check.
 */
export function requireDecimalDigits(query: unknown, name: string): void {
  const value = (query as Record<string, unknown> | undefined)?.[name];
  if (typeof value === 'string' && !DECIMAL.test(value))
    throw new AgentbusError('invalid_request', `${name} must be an integer, written in decimal digits.`, {
      param: name,
    });
}
