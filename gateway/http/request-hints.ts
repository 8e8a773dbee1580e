import type { IncomingHttpHeaders } from 'node:http';
import { AgentbusError } from '../../bus-schemas/index.js';
import type { RequestHints } from '../chat/types.js';

export const PRIORITIES = ['low', 'normal', 'high'] as const;
export const MIN_TIMEOUT_HINT_MS = 100;
export const MAX_TIMEOUT_HINT_MS = 3_600_000;

/**
 * One value of a header that can hold only one: Node joins a header sent twice with ", " (a
 * proxy adding its own copy, say), which the header's own check would refuse as malformed.
 * None of these headers' values may hold a comma, so one is named for what it is.
 */
export function singleHeader(headers: IncomingHttpHeaders, key: string, name: string): string | undefined {
  const raw = headers[key];
  const value = Array.isArray(raw) ? raw.join(', ') : raw;
  if (value === undefined || !value.includes(',')) return value;
  throw new AgentbusError('invalid_request', `${name} holds several values ("${value.slice(0, 300)}"): send it once.`, {
    param: name,
  });
}

function booleanHeader(name: string, value: string | undefined): boolean {
  if (value === undefined) return false;
  if (/^(true|1|yes)$/i.test(value)) return true;
  if (/^(false|0|no)$/i.test(value)) return false;
  throw new AgentbusError('invalid_request', `${name} must be "true" or "false".`, { param: name });
}

/**
 * The hints of an HTTP request: `X-Priority` (low, normal, high), `X-Private` (true keeps the
 * request on local providers), and a timeout: `X-Request-Timeout-Ms`, else `X-Stainless-Timeout`
 * (seconds; the OpenAI SDKs send their own client timeout in it). A malformed hint the client
 * set on purpose is a 400; the SDK's header is only used when it parses.
 */
export function hintsFromHeaders(headers: IncomingHttpHeaders): RequestHints {
  const hints: RequestHints = { private: booleanHeader('X-Private', singleHeader(headers, 'x-private', 'X-Private')) };
  const priority = singleHeader(headers, 'x-priority', 'X-Priority');
  if (priority !== undefined) {
    if (!(PRIORITIES as readonly string[]).includes(priority))
      throw new AgentbusError('invalid_request', `X-Priority must be one of ${PRIORITIES.join(', ')}.`, {
        param: 'X-Priority',
      });
    hints.priority = priority as RequestHints['priority'];
  }
  const timeout = singleHeader(headers, 'x-request-timeout-ms', 'X-Request-Timeout-Ms');
  if (timeout !== undefined) {
    // Digits only: Number() would also take "1e3", "0x10" or " 5 ".
    const ms = /^\d{1,9}$/.test(timeout) ? Number(timeout) : NaN;
    if (!Number.isInteger(ms) || ms < MIN_TIMEOUT_HINT_MS || ms > MAX_TIMEOUT_HINT_MS) {
      throw new AgentbusError(
        'invalid_request',
        `X-Request-Timeout-Ms must be an integer from ${MIN_TIMEOUT_HINT_MS} to ${MAX_TIMEOUT_HINT_MS}.`,
        { param: 'X-Request-Timeout-Ms' },
      );
    }
    hints.timeoutMs = ms;
  } else {
    const stainless = headers['x-stainless-timeout'];
    const seconds = Number(Array.isArray(stainless) ? stainless[0] : stainless);
    if (Number.isFinite(seconds) && seconds > 0) {
      hints.timeoutMs = Math.min(Math.max(Math.round(seconds * 1000), MIN_TIMEOUT_HINT_MS), MAX_TIMEOUT_HINT_MS);
      hints.timeoutUntilHeaders = true;
    }
  }
  return hints;
}
