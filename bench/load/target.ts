/** One place a chat request can be sent: the upstream itself, agentbus, or a peer gateway. */
export interface Target {
  name: 'direct' | 'agentbus' | 'portkey' | 'floor' | 'floor+memory' | 'floor+delivery';
  /** Base URL, e.g. http://127.0.0.1:8080 */
  url: string;
  /** Path of the OpenAI chat completions route. */
  path: string;
  headers: Record<string, string>;
  /** The model name this target expects in the body. */
  model: string;
}

/**
 * agentbus's chat route with the dev key: tier `unlimited`, so the rate limiter does no NATS KV
 * work for it, and the `testing` agent.
 */
export function agentbusTarget(gatewayUrl: string): Target {
  return {
    name: 'agentbus',
    url: gatewayUrl,
    path: '/v1/chat/completions',
    headers: { authorization: 'Bearer local-only' },
    model: 'testing',
  };
}

/** The same OpenAI request for every target: one short user message, differing only in `model`. */
export function chatBody(target: Target, stream: boolean): string {
  return JSON.stringify({ model: target.model, stream, messages: [{ role: 'user', content: 'Say something short.' }] });
}
