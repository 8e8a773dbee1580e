import t from 'tap';
import { AgentbusError } from '../../bus-schemas/index.js';
import type { ResponsesBody } from '../../gateway/openai/responses-request.schema.js';
import { sessionToContinueOf } from '../../gateway/openai/conversation-to-continue.js';
import { inResponsesTerms, responsesToChatInput } from '../../gateway/openai/responses-to-chat.js';
import { toolCallNotFound, toolCallsUnanswered, toolResultAnswersNothing } from '../../common/tool-result-errors.js';
import { checkToolResults } from '../../gateway/chat/tool-results.js';
import { SMALL_INPUT_LIMITS } from '../helpers/input-limits.js';

const limits = SMALL_INPUT_LIMITS;
/** What both faces do with a body: what it continues checked first, then the translation. */
const translate = (body: Record<string, unknown>, stream = false) => {
  const full = { model: 'm', input: 'hi', ...body } as ResponsesBody;
  sessionToContinueOf(full);
  return responsesToChatInput(full, stream, limits);
};
const paramOf = (body: Record<string, unknown>) => {
  try {
    translate(body);
  } catch (err) {
    if (err instanceof AgentbusError) return { code: err.code, param: err.param, message: err.message };
    throw err;
  }
  return undefined;
};

t.test('a string input, instructions and sampling become the chat input', async (t) => {
  const input = translate(
    { instructions: 'Be brief.', temperature: 0.5, top_p: 0.9, max_output_tokens: 30, metadata: { a: 'b' } },
    true,
  );
  t.same(input.messages, [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'hi' },
  ]);
  t.same(input.options, { temperature: 0.5, top_p: 0.9, max_tokens: 30 });
  t.equal(input.max_tokens_param, 'max_completion_tokens', 'max_output_tokens is the newer cap upstream');
  t.equal(translate({}).max_tokens_param, undefined, 'no cap, no name');
  t.same(input.metadata, { a: 'b' });
  t.equal(input.stream, true);
  t.equal(input.idPrefix, 'resp_');
  t.equal(input.store, undefined, 'stored unless store: false');
  t.equal(translate({ store: false }).store, false);
  t.equal(translate({ reasoning: { effort: 'low' } }).options.reasoning_effort, 'low', 'reasoning.effort');
  t.same(
    translate({
      input: [
        { type: 'reasoning', id: 'rs_1', summary: [] },
        { role: 'user', content: 'q' },
      ],
    }).messages,
    [{ role: 'user', content: 'q' }],
    'replayed reasoning items are dropped, as memory keeps no thinking',
  );
  t.match(
    paramOf({ input: [{ type: 'reasoning', id: 'rs_1', summary: [] }] }),
    { code: 'invalid_request', param: 'input', message: /nothing to answer/ },
    'reasoning items alone leave nothing to answer',
  );
  t.match(
    paramOf({ input: [{ role: 'user', content: [{ type: 'reasoning_text', text: 't' }] }] }),
    { code: 'invalid_request', param: 'input[0].content[0].type' },
    'reasoning text belongs in a reasoning item',
  );
});

t.test('items: messages, function calls (parallel ones in one assistant message) and outputs', async (t) => {
  const input = translate({
    input: [
      { role: 'developer', content: 'rules' },
      {
        role: 'user',
        content: [
          { type: 'input_text', text: 'a' },
          { type: 'input_text', text: 'b' },
        ],
      },
      { type: 'function_call', call_id: 'c1', name: 'f', arguments: '{}' },
      { type: 'function_call', call_id: 'c2', name: 'g', arguments: '{"x":1}' },
      { type: 'function_call_output', call_id: 'c1', output: 'one' },
      { type: 'function_call_output', call_id: 'c2', output: 'two' },
      { role: 'user', content: [{ type: 'input_image', image_url: 'data:image/png;base64,AAAA' }] },
    ],
  });
  t.same(input.messages, [
    // The model sees a system message and the joined text; how they were sent is kept for input_items.
    { role: 'system', content: 'rules', developer: true },
    { role: 'user', content: 'a\nb', part_lengths: [1, 1] },
    {
      role: 'assistant',
      content: '',
      tool_calls: [
        { id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } },
        { id: 'c2', type: 'function', function: { name: 'g', arguments: '{"x":1}' } },
      ],
    },
    { role: 'tool', content: 'one', tool_call_id: 'c1' },
    { role: 'tool', content: 'two', tool_call_id: 'c2' },
    { role: 'user', content: '', images: ['AAAA'], image_parts: [{ at: 0, media_type: 'image/png' }] },
  ]);
});

t.test('function tools, tool_choice and text.format map to the chat fields', async (t) => {
  const input = translate({
    tools: [{ type: 'function', name: 'f', description: 'd', parameters: { type: 'object' }, strict: true }],
    tool_choice: { type: 'function', name: 'f' },
    text: { format: { type: 'json_schema', name: 'out', schema: { type: 'object' } } },
  });
  t.same(input.tools, [
    { type: 'function', function: { name: 'f', description: 'd', parameters: { type: 'object' }, strict: true } },
  ]);
  t.same(input.tool_choice, { type: 'function', function: { name: 'f' } });
  t.same(input.response_format, { type: 'json_schema', json_schema: { name: 'out', schema: { type: 'object' } } });
  t.same(translate({ text: { format: { type: 'text' } } }).response_format, undefined);
});

t.test('what cannot be honoured is refused naming the Responses field', async (t) => {
  t.match(paramOf({ background: true }), { code: 'invalid_request', param: 'background' });
  t.match(paramOf({ include: ['message.output_text.logprobs'] }), { param: 'include' });
  // Mistyped, not silently dropped: a string include, a string background.
  t.match(paramOf({ include: 'message.output_text.logprobs' }), { code: 'invalid_request', param: 'include' });
  t.match(paramOf({ background: 'true' }), { code: 'invalid_request', param: 'background' });
  t.equal(paramOf({ include: [], background: null }), undefined, 'an empty include asks for nothing');
  t.match(paramOf({ reasoning: { summary: 'concise' } }), { param: 'reasoning.summary' });
  t.match(paramOf({ reasoning: { summary: 'detailed' } }), { param: 'reasoning.summary' });
  t.equal(paramOf({ reasoning: { summary: 'auto' } }), undefined, '"auto" is honoured: no summary is made');
  t.equal(paramOf({ reasoning: { effort: null }, truncation: 'disabled', background: false }), undefined);
  t.match(paramOf({ truncation: 'auto' }), { param: 'truncation' });
  t.match(paramOf({ tools: [{ type: 'file_search' }] }), { param: 'tools[0].type' });
  t.match(paramOf({ input: [{ type: 'item_reference', id: 'r' }] }), { param: 'input[0].type' });
  t.match(paramOf({ input: [{ type: 'function_call', call_id: 'c' }] }), { param: 'input[0].name' });
  t.match(paramOf({ input: [{ role: 'user', content: [{ type: 'input_file' }] }] }), {
    param: 'input[0].content[0]',
  });
  t.match(paramOf({ store: false, previous_response_id: 'resp_1' }), { param: 'store' });
  t.match(paramOf({ store: false, conversation: 'conv_1' }), { param: 'store', message: /continue conversation;/ });
  // OpenAI's Responses API takes these without tools (its echo shows tool_choice "auto", tools []).
  for (const tool_choice of ['auto', 'none'])
    t.equal(paramOf({ tool_choice, tools: [] }), undefined, `${tool_choice} without tools: nothing to call`);
  t.equal(translate({ tools: [], tool_choice: 'none' }).tools, undefined);
  t.match(paramOf({ tool_choice: 'required' }), { param: 'tool_choice' });
  t.match(paramOf({ text: { format: { type: 'json_schema' } } }), { param: 'text.format.name' });
});

t.test('stream_options without stream is refused as on Chat Completions', async (t) => {
  t.same(paramOf({ stream_options: { include_obfuscation: false } }), {
    code: 'invalid_request',
    param: 'stream_options',
    message: "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
  });
  t.equal(translate({ stream_options: { include_obfuscation: false } }, true).stream, true, 'streamed: allowed');
  t.equal(paramOf({ stream_options: null }), undefined, 'null counts as not sent');
});

t.test("the chat pipeline's checks name the Responses field, not the chat one", async (t) => {
  t.match(paramOf({ input: [{ role: 'assistant', content: [{ type: 'input_image', image_url: 'data:x' }] }] }), {
    param: 'input[0].content[0]',
  });
  t.match(paramOf({ instructions: 'x'.repeat(60) }), { code: 'message_too_long', param: 'instructions' });
  t.match(
    paramOf({
      input: [
        { role: 'user', content: 'y' },
        { role: 'user', content: 'x'.repeat(60) },
      ],
    }),
    {
      code: 'message_too_long',
      param: 'input[1].content',
      message: /^input\[1\]\.content is 60/,
    },
  );
  // Long function call arguments: the item, as a Responses item has no tool_calls field.
  const call = { type: 'function_call', call_id: 'c', name: 'f', arguments: 'x'.repeat(60) };
  const output = { type: 'function_call_output', call_id: 'c', output: 'ok' };
  const longCall = paramOf({ input: [{ role: 'user', content: 'y' }, call, output] });
  t.equal(longCall?.code, 'message_too_long');
  t.equal(longCall?.param, 'input[1]');
  t.match(longCall?.message, /^input\[1\] carries 60 characters/);
  t.equal(paramOf({ input: [{ role: 'assistant', content: 'z' }, call, output] })?.param, 'input[0]');
  t.match(paramOf({ input: Array.from({ length: 7 }, () => ({ role: 'user', content: 'x' })) }), {
    code: 'too_many_messages',
    param: 'input',
  });
  const fn = (name: string) => ({ type: 'function', name });
  t.match(paramOf({ tools: [fn('a'), fn('a')] }), { param: 'tools[1].name' });
  t.match(paramOf({ tools: [fn('a'), fn('b'), fn('c')] }), { code: 'too_many_tools', param: 'tools' });
});

t.test("an input_image's URL is named as Responses sends it: image_url is a string, not an object", async (t) => {
  const image = (image_url: string) => ({ input: [{ role: 'user', content: [{ type: 'input_image', image_url }] }] });
  t.match(paramOf(image('https://example.com/a.png')), {
    param: 'input[0].content[0].image_url',
    message: /^input\[0\]\.content\[0\]\.image_url must be a base64 data URL/,
  });
});

t.test('errors raised after the translation (pipeline, worker) name the Responses fields', async (t) => {
  const body = {
    model: 'm',
    input: [
      { role: 'user', content: 'q' },
      { type: 'function_call', call_id: 'c1', name: 'f', arguments: '{}' },
      { type: 'function_call_output', call_id: 'c9', output: 'r' },
    ],
  } as ResponsesBody;
  const named = (code: 'invalid_request' | 'context_length_exceeded', message: string, param: string) =>
    inResponsesTerms(new AgentbusError(code, message, { param }), body) as AgentbusError;
  t.match(named('invalid_request', 'The llama-cpp provider cannot set reasoning effort.', 'reasoning_effort'), {
    param: 'reasoning.effort',
  });
  t.match(named('invalid_request', 'The provider does not support response_format.', 'response_format'), {
    param: 'text.format',
    message: 'The provider does not support text.format.',
  });
  t.match(named('invalid_request', 'max_tokens cut the call; raise max_tokens.', 'max_tokens'), {
    param: 'max_output_tokens',
    message: 'max_output_tokens cut the call; raise max_output_tokens.',
  });
  t.match(named('context_length_exceeded', 'Too long.', 'messages'), { param: 'input' });
  t.match(named('invalid_request', "'tool_call_id' of 'c9' not found", 'messages[2].tool_call_id'), {
    param: 'input[2].call_id',
  });
  // Tool results' refusals in the Responses API's own words.
  t.match(named('invalid_request', toolCallNotFound('c9', 2).message, 'messages[2].tool_call_id'), {
    param: 'input[2].call_id',
    message: 'No tool call found for function call output with call_id c9.',
  });
  t.match(named('invalid_request', toolResultAnswersNothing(2).message, 'messages[2].role'), {
    message: 'No tool call found for function call output with call_id c9.',
  });
  t.match(named('invalid_request', toolCallsUnanswered(['c1'], 2).message, 'messages[2].role'), {
    message: 'No tool output found for function call c1.',
  });
  t.match(named('invalid_request', 'x', 'messages[2].content'), { param: 'input[2].output' });
  // A function_call item has no role: a refusal of the assistant message it made names the item.
  t.match(named('invalid_request', toolCallsUnanswered(['c1'], 1).message, 'messages[1].role'), {
    param: 'input[1]',
    message: 'No tool output found for function call c1.',
  });
  t.match(named('invalid_request', 'x', 'messages[0].content'), { param: 'input[0].content' });
  const same = new AgentbusError('invalid_request', 'nothing to rename', { param: 'tool_choice' });
  t.equal(inResponsesTerms(same, body), same, 'an error with nothing to rename is kept as it is');
  const missing = new AgentbusError('session_not_found', 'no such session');
  t.match(inResponsesTerms(missing, { ...body, previous_response_id: 'resp_1' }), {
    code: 'response_not_found',
    param: 'previous_response_id',
  });
  t.match(inResponsesTerms(missing, { ...body, conversation: { id: 'conv_1' } }), {
    code: 'session_not_found',
    param: 'conversation',
    message:
      /^No session "conv_1" exists for this API key: .* To start a new conversation, leave out 'conversation'\.$/,
  });
});

t.test("a function call's output may be text parts, joined; other parts are refused by index", async (t) => {
  const input = translate({
    input: [
      { type: 'function_call', call_id: 'c1', name: 'f', arguments: '{}' },
      {
        type: 'function_call_output',
        call_id: 'c1',
        output: [
          { type: 'input_text', text: '{"sky":' },
          { type: 'input_text', text: '"clear"}' },
        ],
      },
    ],
  });
  t.same(input.messages.at(-1), { role: 'tool', content: '{"sky":"clear"}', tool_call_id: 'c1' });
  const image = { type: 'input_image', image_url: 'data:image/png;base64,AAAA' };
  t.match(
    paramOf({
      input: [
        { type: 'function_call', call_id: 'c1', name: 'f', arguments: '{}' },
        { type: 'function_call_output', call_id: 'c1', output: [{ type: 'input_text', text: 'a' }, image] },
      ],
    }),
    { code: 'invalid_request', param: 'input[1].output[1].type', message: /"input_image" is not supported/ },
  );
});

t.test('an empty content array is named as empty, not as missing', async (t) => {
  t.match(paramOf({ input: [{ role: 'user', content: [] }] }), {
    code: 'invalid_request',
    param: 'input[0].content',
    message: /^input\[0\]\.content is an empty array/,
  });
});

t.test('a function call without its output names the function_call item, which has no role', async (t) => {
  // As the pipeline checks a translated input, and the route restates what it refuses.
  const refusal = (input: ResponsesBody['input']) => {
    const body = { model: 'm', input } as ResponsesBody;
    try {
      checkToolResults(responsesToChatInput(body, false, limits), false);
    } catch (err) {
      return inResponsesTerms(err, body) as AgentbusError;
    }
    return undefined;
  };
  const call = { type: 'function_call', call_id: 'c1', name: 'f', arguments: '{}' } as const;
  t.match(refusal([call]), { param: 'input[0]', message: 'No tool output found for function call c1.' });
  const user = { role: 'user', content: 'q' } as const;
  t.match(refusal([user, call, { ...call, call_id: 'c2' }]), { param: 'input[1]' }, 'parallel calls: the first item');
  t.match(refusal([user, call, user]), { param: 'input[2].role' }, 'a message that came too early has a role');
});

t.test("an assistant's refusal parts are named beside the text the model sees", async (t) => {
  const input = translate({
    input: [
      { role: 'user', content: 'q' },
      {
        role: 'assistant',
        content: [
          { type: 'output_text', text: 'A' },
          { type: 'refusal', refusal: 'R' },
        ],
      },
      { role: 'assistant', content: [{ type: 'refusal', refusal: 'no' }] },
      { role: 'user', content: 'x' },
    ],
  });
  t.same(input.messages.slice(1, 3), [
    { role: 'assistant', content: 'A\nR', part_lengths: [1, 1], refusal_parts: [1] },
    { role: 'assistant', content: 'no', refusal_parts: [0] },
  ]);
});

t.test("text.verbosity is chat's verbosity; service_tier is the same on both", async (t) => {
  const input = translate({ text: { verbosity: 'low' }, service_tier: 'priority' });
  t.equal(input.verbosity, 'low');
  t.equal(input.service_tier, 'priority');
  t.equal(input.response_format, undefined, 'a verbosity alone asks for no format');
  const plain = translate({ text: { verbosity: null }, service_tier: null });
  t.notOk('verbosity' in plain || 'service_tier' in plain, 'null is not sent');
  t.match(paramOf({ verbosity: 'low' }), { param: 'verbosity', message: /Responses API names it text\.verbosity/ });
});

t.test('previous_response_id takes a response id, conversation a conversation id, never both', async (t) => {
  t.equal(paramOf({ previous_response_id: 'resp_1' }), undefined);
  t.equal(paramOf({ conversation: 'conv_1' }), undefined);
  t.equal(paramOf({ conversation: { id: 'conv_1' } }), undefined, 'the object form too');
  t.match(paramOf({ previous_response_id: 'conv_1' }), {
    code: 'invalid_request',
    param: 'previous_response_id',
    message: /Expected an ID that begins with 'resp_'.*send it as 'conversation'/,
  });
  t.match(paramOf({ previous_response_id: 'chatcmpl-1' }), { param: 'previous_response_id' });
  t.match(paramOf({ conversation: 'resp_1' }), { param: 'conversation', message: /is a response id/ });
  for (const completion of ['chatcmpl-1', 'cmpl-1'])
    t.match(
      paramOf({ conversation: { id: completion } }),
      { param: 'conversation', message: /is a completion's id; send that completion's conversation_id/ },
      `${completion}: a completion's id is no conversation's, though memory would resolve it`,
    );
  t.match(paramOf({ previous_response_id: 'resp_1', conversation: 'conv_1' }), {
    param: 'conversation',
    message: /^Mutually exclusive parameters/,
  });
  t.equal(paramOf({ previous_response_id: null, conversation: null }), undefined, 'null is not sent');
});

t.test("a message's parts must be its role's: output parts for an assistant, input parts for the rest", async (t) => {
  const message = (role: string, type: string) => ({
    input: [
      { role, content: [{ type, text: 'x', refusal: 'x' }] },
      { role: 'user', content: 'go on' },
    ],
  });
  t.match(paramOf(message('user', 'output_text')), {
    param: 'input[0].content[0].type',
    message: /^Invalid value: 'output_text'\. Supported values are: 'input_text', 'input_image', and 'input_file'/,
  });
  t.match(paramOf(message('assistant', 'input_text')), {
    param: 'input[0].content[0].type',
    message: /^Invalid value: 'input_text'\. Supported values are: 'output_text' and 'refusal' \(in an assistant/,
  });
  t.match(paramOf(message('developer', 'refusal')), { param: 'input[0].content[0].type', message: /a developer/ });
  for (const [role, type] of [
    ['user', 'input_text'],
    ['system', 'input_text'],
    ['developer', 'input_text'],
    ['assistant', 'output_text'],
    ['assistant', 'refusal'],
  ])
    t.equal(paramOf(message(role!, type!)), undefined, `${type} in a ${role} message`);
});
