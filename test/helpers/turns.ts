import type { NewTurn } from '../../workers/memory/turns.js';

/** A finished one-message turn for the memory tests; `over` sets what a test looks at. */
export const newTurn = (over: Partial<NewTurn> = {}): NewTurn => ({
  requestId: 'chatcmpl-1',
  sessionId: 'conv_1',
  tenant: 'key_a',
  agent: 'testing',
  model: 'm',
  inputMessages: [{ role: 'user', content: 'q' }],
  assistantResponse: 'a',
  toolCalls: [],
  finishReason: 'stop',
  cached: false,
  promptTokens: 1,
  completionTokens: 1,
  durationMs: 5,
  private: false,
  ...over,
});
