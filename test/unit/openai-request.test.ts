import t from 'tap';
import type { ChatMessage } from '../../bus-schemas/index.js';
import { normalizeMessages } from '../../gateway/openai/normalize-messages.js';
import { capNameFor } from '../../workers/providers/openai/max-tokens-param.js';
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

t.test('the cap goes upstream under the name OPENAI_MAX_TOKENS_PARAM picks', async (t) => {
  const legacy = toOpenAIRequest(request({ options: { max_tokens: 50 } }));
  t.equal(legacy.max_tokens, 50, 'by default max_tokens, which every server knows');
  t.notOk('max_completion_tokens' in legacy);
  const newer = toOpenAIRequest(request({ options: { max_tokens: 50 } }), 'max_completion_tokens');
  t.equal(newer.max_completion_tokens, 50, 'max_completion_tokens, as reasoning models require');
  t.notOk('max_tokens' in newer, 'never both: reasoning models refuse max_tokens');
  const uncapped = toOpenAIRequest(request(), 'max_completion_tokens');
  t.notOk('max_tokens' in uncapped || 'max_completion_tokens' in uncapped, 'no cap, no field');

  const asSent = capNameFor('as_sent', 'http://127.0.0.1:8000/v1');
  t.equal(asSent('max_completion_tokens'), 'max_completion_tokens', 'as_sent: the newer name when the client used it');
  t.equal(asSent(undefined), 'max_tokens', 'as_sent: max_tokens otherwise (or from an older gateway)');
  const local = capNameFor('auto', 'http://127.0.0.1:11434/v1');
  t.equal(local('max_completion_tokens'), 'max_tokens', "auto elsewhere: Ollama's /v1 and LM Studio know only it");
  const openai = capNameFor('auto', 'https://api.openai.com/v1');
  t.equal(openai('max_completion_tokens'), 'max_completion_tokens', 'auto on OpenAI: as sent');
  t.equal(openai(undefined), 'max_tokens');
  t.equal(capNameFor('max_completion_tokens', 'http://x/v1')(undefined), 'max_completion_tokens', 'a fixed name');
  t.equal(capNameFor('max_tokens', 'https://api.openai.com/v1')('max_completion_tokens'), 'max_tokens');
});

// The tester's message: texts and images interleaved, two media types, one detail.
const JPEG = '/9j/4AAQ';
const PNG = 'iVBORw0K';
const sent = [
  { type: 'text', text: 'Image A:' },
  { type: 'image_url', image_url: { url: `data:image/jpeg;base64,${JPEG}`, detail: 'low' } },
  { type: 'text', text: 'Image B:' },
  { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } },
  { type: 'text', text: 'Which is red?' },
] as const;

t.test('a user message with images reaches the upstream part by part, as the client sent it', async (t) => {
  const messages = normalizeMessages([{ role: 'user', content: [...sent] }]);
  t.same(
    messages,
    [
      {
        role: 'user',
        content: 'Image A:\nImage B:\nWhich is red?',
        part_lengths: [8, 8, 13],
        images: [JPEG, PNG],
        image_parts: [
          { at: 1, media_type: 'image/jpeg', detail: 'low' },
          { at: 3, media_type: 'image/png' },
        ],
      },
    ],
    'one string for Ollama, its texts apart and its images in place for the openai provider',
  );
  t.same(toOpenAIRequest(request({ messages })).messages, [{ role: 'user', content: sent }]);
});

t.test('images first, last or alone keep their place; an older envelope keeps the old shape', async (t) => {
  const image = (type: string) => ({ type: 'image_url', image_url: { url: `data:${type};base64,${PNG}` } });
  for (const content of [
    [image('image/webp'), { type: 'text', text: 'what?' }],
    [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }, image('image/gif')],
    [image('image/png'), image('image/jpeg')],
  ]) {
    const messages = normalizeMessages([{ role: 'user', content } as never]);
    t.same(toOpenAIRequest(request({ messages })).messages, [{ role: 'user', content }]);
  }
  const older: ChatMessage = { role: 'user', content: 'ab', part_lengths: [1, 1], images: [JPEG] };
  t.same(toOpenAIRequest(request({ messages: [older] })).messages, [
    {
      role: 'user',
      content: [
        { type: 'text', text: 'ab' },
        { type: 'image_url', image_url: { url: `data:image/png;base64,${JPEG}` } },
      ],
    },
  ]);
});

t.test('text parts without images reach every provider as one string, one part a line', async (t) => {
  const messages = normalizeMessages([
    {
      role: 'user',
      content: [
        { type: 'text', text: 'U1' },
        { type: 'text', text: 'U2' },
      ],
    },
  ]);
  t.same(toOpenAIRequest(request({ messages })).messages, [{ role: 'user', content: 'U1\nU2' }]);
  const output = [
    { type: 'text', text: '{"a":"x' },
    { type: 'text', text: 'y"}' },
  ] as const;
  const [tool] = normalizeMessages([{ role: 'tool', tool_call_id: 'call_1', content: [...output] }]);
  t.same(tool, { role: 'tool', content: '{"a":"xy"}', tool_call_id: 'call_1' }, "a tool's JSON is not cut by a line");
});

t.test("a message's name reaches the upstream on every role that takes one", async (t) => {
  const messages = normalizeMessages([
    { role: 'developer', content: 'be brief', name: 'house_rules' },
    { role: 'user', content: 'hi', name: 'alice' },
    { role: 'assistant', content: 'hello', name: 'helper' },
    { role: 'user', content: [{ type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } }], name: 'bob' },
    { role: 'user', content: 'no name' },
    { role: 'user', content: 'a name OpenAI refuses', name: 'John Doe' },
  ]);
  t.same(
    toOpenAIRequest(request({ messages })).messages.map((m) => ('name' in m ? m.name : undefined)),
    ['house_rules', 'alice', 'helper', 'bob', undefined, undefined],
  );
  const calls = [{ id: 'call_1', type: 'function' as const, function: { name: 'f', arguments: '{}' } }];
  const [called] = toOpenAIRequest(
    request({ messages: [{ role: 'assistant', content: '', name: 'helper', tool_calls: calls }] }),
  ).messages;
  t.match(called, { role: 'assistant', name: 'helper', tool_calls: calls });
});

t.test('parallel_tool_calls goes upstream with tools, and never without them', async (t) => {
  const tools = [{ type: 'function' as const, function: { name: 'f', parameters: { type: 'object' } } }];
  t.equal(toOpenAIRequest(request({ tools, parallelToolCalls: false })).parallel_tool_calls, false);
  t.equal(toOpenAIRequest(request({ tools, parallelToolCalls: true })).parallel_tool_calls, true);
  t.notOk('parallel_tool_calls' in toOpenAIRequest(request({ tools })), 'not sent: the server decides');
  // OpenAI refuses it alone: "'parallel_tool_calls' is only allowed when 'tools' are specified".
  t.notOk('parallel_tool_calls' in toOpenAIRequest(request({ parallelToolCalls: false })));
});

t.test('verbosity and service_tier go upstream as sent, and only when sent', async (t) => {
  const sent = toOpenAIRequest(request({ verbosity: 'low', serviceTier: 'flex' }));
  t.equal(sent.verbosity, 'low');
  t.equal(sent.service_tier, 'flex');
  const plain = toOpenAIRequest(request());
  t.notOk('verbosity' in plain || 'service_tier' in plain, 'servers other than OpenAI never see them unasked');
});
