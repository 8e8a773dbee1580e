import t from 'tap';
import type { ChatMessage } from '../../bus-schemas/index.js';
import { toOpenAIRequest } from '../../workers/providers/openai/request.js';
import type { ProviderChatRequest } from '../../workers/providers/types.js';

// The body the `openai` provider sends an OpenAI-compatible /chat/completions.
const request = (extra: Partial<ProviderChatRequest> = {}): ProviderChatRequest => ({
  model: 'gpt-test',
  messages: [{ role: 'user', content: 'hi' }] satisfies ChatMessage[],
  options: {},
  signal: new AbortController().signal,
  ...extra,
});

t.test('the cap goes upstream under the name the client used', async (t) => {
  const legacy = toOpenAIRequest(request({ options: { max_tokens: 50 } }));
  t.equal(legacy.max_tokens, 50, 'max_tokens (or an older gateway): max_tokens, which every server knows');
  t.notOk('max_completion_tokens' in legacy);
  const newer = toOpenAIRequest(request({ options: { max_tokens: 50 }, maxTokensParam: 'max_completion_tokens' }));
  t.equal(newer.max_completion_tokens, 50, 'max_completion_tokens: as sent, as reasoning models require');
  t.notOk('max_tokens' in newer, 'never both: reasoning models refuse max_tokens');
  const uncapped = toOpenAIRequest(request({ maxTokensParam: 'max_completion_tokens' }));
  t.notOk('max_tokens' in uncapped || 'max_completion_tokens' in uncapped, 'no cap, no field');
});
