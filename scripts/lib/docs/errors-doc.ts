import { asksNextAgent, ERROR_CODES, ERROR_TABLE } from '../../../bus-schemas/errors.js';
import { generatedNotice, plain, table } from './markdown.js';

const INTRO = `# Errors

Every error has OpenAI's shape, \`{"error":{"message","type","param","code"}}\`, with the HTTP
status the official SDKs map to their typed errors; \`param\` names the field at fault, or is
null. Compare \`code\`, never the message.

- **\`X-Request-ID\`** names the request, as on every answer: the call's own id (\`chatcmpl-…\`,
  \`embd-…\`) once it was admitted, before that \`req_\` and 32 hex digits — the gateway log's \`reqId\`
  (a request Node's parser refused, or a WebSocket handshake refused before routing, is not logged).
- **\`x-should-retry: true|false\`** tells the OpenAI SDKs whether a retry can help (they obey
  it instead of retrying every 5xx); retryable errors also carry \`Retry-After\` (seconds; \`1\`
  unless a rate limit says when — the key's own, or an upstream's (\`backend_rate_limited\`) — or an
  open circuit breaker when its provider is tried again). The
  408 and 431 that Node's HTTP parser raises before routing carry neither and close the connection.
- **Before the first token** the gateway itself asks the same agent once more after a retryable
  error, then the agent's catalog \`fallback\` ([api.md](api.md#routing-fan-out-and-fallback)). An
  error marked "no, next agent" is not retried but says only that this agent's own backend refused
  (its key, its model, its account's quota, privacy): the \`fallback\` agent is asked at once. Any
  other error is the answer.
- **Streams.** A stream that fails after it started ends with \`event: error\` (data: the same
  error object) and **no** \`data: [DONE]\`, so a cut answer never looks complete. Before the
  first byte, the answer is a plain HTTP error.
- **WebSocket**: an \`error\` frame for that request id, with the same object (and
  \`retry_after\` where HTTP would send a \`Retry-After\` of its own: a rate limit, an upstream's, open circuits);
  the socket stays open ([websocket.md](websocket.md)).
- **Legacy routes** answer the same object ([legacy-routes.md](legacy-routes.md#errors)).
- **On the bus** errors are data (\`code\`, \`message\`, \`retryable\`, \`status\`, \`param\`,
  \`retry_after_ms\`) in
  the \`error\` frame, rebuilt on arrival ([bus.md](bus.md#errors)).

A request refused before it reached a worker (validation, keys, scopes, limits) publishes
nothing, calls no model and stores nothing. The table is \`bus-schemas/errors.ts\`, the one list
of codes; a code not in it never reaches a client.`;

/** docs/errors.md, from the error table. */
export function renderErrorsDoc(): string {
  const rows = ERROR_CODES.map((code) => {
    const spec = ERROR_TABLE[code];
    return [
      `\`${code}\``,
      String(spec.status),
      `\`${spec.type}\``,
      spec.retryable ? 'yes' : asksNextAgent(code) ? 'no, next agent' : 'no',
      plain(spec.message),
      spec.doc,
    ];
  });
  return [
    generatedNotice('the error table (bus-schemas/errors.ts)'),
    '',
    INTRO,
    '',
    '## Codes',
    '',
    table(['code', 'HTTP', 'type', 'retryable', 'default message', 'when, and what to do'], rows),
    '',
  ].join('\n');
}
