import t from 'tap';
import { AgentbusError } from '../../bus-schemas/index.js';
import { completionToChatInput } from '../../gateway/openai/completion-to-chat-input.js';

const LIMITS = {
  maxMessages: 10,
  maxMessageChars: 100,
  maxJsonDepth: 32,
  maxTools: 4,
  maxToolSchemaBytes: 1000,
  maxInputChars: 100_000,
};

const refusal = (body: Record<string, unknown>) => {
  try {
    completionToChatInput({ model: 'testing', ...body } as never, false, LIMITS);
  } catch (err) {
    if (err instanceof AgentbusError) return { code: err.code, param: err.param };
    throw err;
  }
  return undefined;
};

t.test('a prompt becomes the one user message; sampling maps as on the chat route', async (t) => {
  const input = completionToChatInput(
    { model: 'testing', prompt: ['Once upon'], max_tokens: 5, stop: 'END', temperature: 0, seed: 3, user: 'u' },
    true,
    LIMITS,
  );
  t.same(input, {
    model: 'testing',
    messages: [{ role: 'user', content: 'Once upon' }],
    options: { max_tokens: 5, stop: ['END'], temperature: 0, seed: 3 },
    user: 'u',
    stream: true,
    idPrefix: 'cmpl-',
  });
});

t.test('what cannot be honoured is refused by name', async (t) => {
  t.same(refusal({ prompt: 'x', suffix: 'end' }), { code: 'invalid_request', param: 'suffix' });
  t.same(refusal({ prompt: 'x', echo: true }), { code: 'invalid_request', param: 'echo' });
  t.same(refusal({ prompt: 'x', best_of: 2 }), { code: 'invalid_request', param: 'best_of' });
  t.same(refusal({ prompt: 'x', logprobs: 2 }), { code: 'invalid_request', param: 'logprobs' });
  t.same(refusal({ prompt: 'x', n: 2 }), { code: 'invalid_request', param: 'n' });
  t.same(refusal({ prompt: ['a', 'b'] }), { code: 'invalid_request', param: 'prompt' }, 'several prompts');
  t.same(refusal({ prompt: [[1, 2, 3]] }), { code: 'invalid_request', param: 'prompt' }, 'token prompts');
  t.same(refusal({ prompt: [] }), { code: 'invalid_request', param: 'prompt' }, 'no prompt');
  t.equal(
    refusal({ prompt: 'x', suffix: '', echo: false, best_of: 1, logprobs: null }),
    undefined,
    'no-op values pass',
  );
  t.equal(refusal({ prompt: 'y'.repeat(101) })?.code, 'message_too_long', 'input limits apply');
});
