/**
 * The prefixes of the ids agentbus gives what it answers and stores, as OpenAI's, so logs and
 * clients can tell the faces apart: a chat completion's request id, a text completion's, a
 * response's, and a new conversation's. Memory stores each turn under its request id, so any of
 * them names its conversation too (X-Session-ID).
 */
export const ID_PREFIXES = {
  chatCompletion: 'chatcmpl-',
  completion: 'cmpl-',
  response: 'resp_',
  conversation: 'conv_',
} as const;
