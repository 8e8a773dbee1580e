import type { FastifyCorsOptions } from '@fastify/cors';
import { RATE_LIMIT_HEADER_NAMES } from '../rate-limit/rate-limit-headers.js';

/**
 * Request headers a page may send: ours, and every one the official `openai` package sends from a
 * browser (node_modules/openai client.mjs `buildHeaders`, internal/detect-platform.mjs). One left
 * out fails the preflight, so every call of that client fails before it is sent.
 */
const ALLOWED_HEADERS = [
  'authorization',
  'content-type',
  'x-session-id',
  'traceparent',
  'cache-control',
  'x-priority',
  'x-private',
  'x-request-timeout-ms',
  // The openai SDK's.
  'user-agent',
  'openai-organization',
  'openai-project',
  'openai-beta',
  'x-stainless-lang',
  'x-stainless-package-version',
  'x-stainless-os',
  'x-stainless-arch',
  'x-stainless-runtime',
  'x-stainless-runtime-version',
  'x-stainless-retry-count',
  'x-stainless-timeout',
  'x-stainless-helper-method',
];

/** Response headers a page may read: those the SDK reads (request id, retry advice) and ours. */
const EXPOSED_HEADERS = [
  'x-request-id',
  'x-session-id',
  'x-cache',
  'traceparent',
  'retry-after',
  'x-should-retry',
  'x-agentbus-voice-agent',
  'x-agentbus-voice',
  'x-agentbus-provider',
  'x-agentbus-worker',
  ...RATE_LIMIT_HEADER_NAMES,
];

/** @fastify/cors's options for CORS_ORIGINS (`*`: any origin). DELETE is `responses.delete`. */
export function corsOptions(origins: readonly string[]): FastifyCorsOptions {
  return {
    origin: origins.includes('*') ? true : [...origins],
    methods: ['GET', 'HEAD', 'POST', 'DELETE'],
    allowedHeaders: ALLOWED_HEADERS,
    exposedHeaders: EXPOSED_HEADERS,
    maxAge: 600,
  };
}
