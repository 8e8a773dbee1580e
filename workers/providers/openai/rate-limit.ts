import { APIError } from 'openai';
import { AgentbusError } from '../../../bus-schemas/index.js';

/**
 * The longest upstream wait passed on to clients: the openai SDK sleeps whatever Retry-After says before its
 * retry, so a day-long limit would hang it; past this, being told to come back in a minute is more useful.
 */
export const MAX_UPSTREAM_RETRY_AFTER_MS = 60_000;

// OpenAI's billing refusals: all 429s, some with type insufficient_quota and a more precise code. No wait helps.
const QUOTA_CODES = new Set([
  'insufficient_quota',
  'billing_hard_limit_reached',
  'credit_balance_exhausted',
  'organization_spend_limit_exceeded',
  'project_spend_limit_exceeded',
  'organization_usage_limit_exceeded',
]);

/**
 * How long an upstream asked to wait, in ms: `retry-after-ms` (OpenAI's, Azure's), else `retry-after` in
 * seconds or as an HTTP date; undefined when it said nothing usable or "now". At most
 * {@link MAX_UPSTREAM_RETRY_AFTER_MS}.
 */
export function upstreamRetryAfterMs(headers: Headers | undefined, now = Date.now()): number | undefined {
  const inMs = Number.parseFloat(headers?.get('retry-after-ms') ?? '');
  const header = headers?.get('retry-after')?.trim() ?? '';
  const ms = Number.isFinite(inMs)
    ? inMs
    : /^\d+(\.\d+)?$/.test(header)
      ? Number(header) * 1000
      : Date.parse(header) - now; // NaN when it is not a date either
  if (!(ms > 0)) return undefined;
  return Math.min(Math.ceil(ms), MAX_UPSTREAM_RETRY_AFTER_MS);
}

/**
 * An upstream's 429 to the worker's own key as one of ours: `backend_quota_exceeded` when the account has no
 * quota left, else `backend_rate_limited` carrying the upstream's Retry-After. `where` names the server and its
 * URL setting, `keySetting` the variable of the key; undefined for any other failure.
 */
export function upstream429(err: unknown, where: string, keySetting: string): AgentbusError | undefined {
  if (!(err instanceof APIError) || err.status !== 429) return undefined;
  const code = typeof err.code === 'string' ? err.code : undefined;
  const type = typeof err.type === 'string' ? err.type : undefined;
  if ((code && QUOTA_CODES.has(code)) || (type && QUOTA_CODES.has(type))) {
    return new AgentbusError(
      'backend_quota_exceeded',
      `${where} says the account of the worker's key has no quota left (HTTP 429 ${code ?? type}): ` +
        `${err.message}. Add credit or raise the limit there, or set ${keySetting} to another account's key.`,
      { cause: err },
    );
  }
  const retryAfterMs = upstreamRetryAfterMs(err.headers as Headers | undefined);
  const wait = retryAfterMs === undefined ? '' : `; it asks to wait ${Math.ceil(retryAfterMs / 1000)} s`;
  return new AgentbusError(
    'backend_rate_limited',
    `${where} is rate limiting the worker's key (HTTP 429${wait}): ${err.message}`,
    { cause: err, retryAfterMs },
  );
}
