import t from 'tap';
import { AgentbusError } from '../../bus-schemas/index.js';
import { completionToChatInput } from '../../gateway/openai/completion-to-chat-input.js';
import { responsesToChatInput } from '../../gateway/openai/responses-to-chat.js';
import { toChatInput } from '../../gateway/openai/to-chat-input.js';
import { SMALL_INPUT_LIMITS } from '../helpers/input-limits.js';

const limits = SMALL_INPUT_LIMITS;

function refusal(translate: () => unknown): { param: string | null; message: string } | undefined {
  try {
    translate();
  } catch (err) {
    if (err instanceof AgentbusError) return { param: err.param, message: err.message };
    throw err;
  }
  return undefined;
}

// OpenAI answers another API's field with 400 "Unknown parameter"; dropped, a cap would not apply.
t.test("another API's fields are refused by name, with what this API has instead", async (t) => {
  const responses = (extra: object) =>
    refusal(() => responsesToChatInput({ model: 'm', input: 'hi', ...extra }, false, limits));
  t.match(responses({ max_tokens: 20 }), {
    param: 'max_tokens',
    message: /"max_tokens" cannot be honoured: it is a Chat Completions field; .*max_output_tokens/,
  });
  for (const field of ['messages', 'max_completion_tokens', 'response_format', 'seed', 'presence_penalty'])
    t.match(responses({ [field]: field === 'messages' ? [] : 1 }), { param: field }, field);
  t.match(responses({ stop: ['said'] }), { param: 'stop' });
  t.equal(responses({ stop: [], n: 1, logit_bias: {}, seed: null }), undefined, 'values that change nothing pass');

  const chat = (extra: object) =>
    refusal(() =>
      toChatInput({ model: 'm', messages: [{ role: 'user', content: 'hi' }], ...extra } as never, false, limits),
    );
  t.match(chat({ max_output_tokens: 5 }), { param: 'max_output_tokens', message: /max_completion_tokens/ });
  t.match(chat({ previous_response_id: 'resp_x' }), { param: 'previous_response_id', message: /X-Session-ID/ });
  t.equal(chat({ some_vendor_extension: true }), undefined, 'unknown fields of no API still pass');

  const completions = (extra: object) =>
    refusal(() => completionToChatInput({ model: 'm', prompt: 'hi', ...extra }, false, limits));
  t.match(completions({ max_completion_tokens: 5 }), { param: 'max_completion_tokens', message: /max_tokens/ });
  t.match(completions({ messages: [{ role: 'user', content: 'x' }] }), { param: 'messages' });
  t.equal(completions({ max_tokens: 5 }), undefined);
});
