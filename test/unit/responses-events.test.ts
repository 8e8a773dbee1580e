import t from 'tap';
import { AgentbusError, type DeltaFrame, type DoneFrame } from '../../bus-schemas/index.js';
import { outputItems, responseEcho } from '../../gateway/openai/responses-object.js';
import { responsesEventFormat } from '../../gateway/openai/responses-sse.js';
import { inResponsesTerms } from '../../gateway/openai/responses-to-chat.js';
import { FrameMaker } from '../helpers/frames.js';

const identity = { id: 'resp_abc', created: 1700000000, model: 'testing' };
const echo = responseEcho({ model: 'testing', input: 'hi' });
const state = { conversationId: 'conv_test' };

/** The events a format writes for `frames`, parsed, in order. */
function eventsOf(text: string): Array<Record<string, unknown> & { event: string }> {
  return text
    .split('\n\n')
    .filter(Boolean)
    .map((block) => {
      const [head, data] = block.split('\n');
      const parsed = JSON.parse(data!.slice('data: '.length)) as Record<string, unknown>;
      return { event: head!.slice('event: '.length), ...parsed };
    });
}

function run(build: (format: ReturnType<typeof responsesEventFormat>, frames: FrameMaker) => string) {
  const format = responsesEventFormat(identity, echo);
  return eventsOf(format.opening!(state) + build(format, new FrameMaker(identity.id)));
}
const toolDelta = (index: number, id: string | undefined, name: string | undefined, args: string): DeltaFrame => ({
  type: 'delta',
  seq: 1,
  request_id: identity.id,
  tool_calls: [
    {
      index,
      ...(id ? { id, type: 'function' as const } : {}),
      function: { ...(name ? { name } : {}), arguments: args },
    },
  ],
});

t.test('text: one message item, its content part, deltas, then completed', async (t) => {
  const events = run(
    (f, m) =>
      f.delta(m.delta('Hel') as DeltaFrame, state) +
      f.delta(m.delta('lo') as DeltaFrame, state) +
      f.done(m.done() as DoneFrame, state),
  );
  t.same(
    events.map((e) => e.event),
    [
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ],
  );
  t.same(
    events.map((e) => e.sequence_number),
    events.map((_, i) => i),
  );
  t.match(events[2], { output_index: 0, item: { id: 'msg_abc', type: 'message', status: 'in_progress', content: [] } });
  t.match(events[4], { item_id: 'msg_abc', output_index: 0, content_index: 0, delta: 'Hel' });
  t.match(events[6], { text: 'Hello' });
  t.match(events[9], {
    response: {
      id: 'resp_abc',
      status: 'completed',
      output: [{ type: 'message', status: 'completed', content: [{ type: 'output_text', text: 'Hello' }] }],
      usage: { input_tokens: 1, output_tokens: 2, total_tokens: 3 },
      conversation_id: 'conv_test',
    },
  });
});

t.test('text then tool calls: the message closes before each call item opens', async (t) => {
  const events = run(
    (f, m) =>
      f.delta(m.delta('Let me check.') as DeltaFrame, state) +
      f.delta(toolDelta(0, 'call_1', 'f', '{"a"'), state) +
      f.delta(toolDelta(0, undefined, undefined, ':1}'), state) +
      f.delta(toolDelta(1, 'call_2', 'g', '{}'), state) +
      f.done({ ...(m.done() as DoneFrame), finish_reason: 'tool_calls' }, state),
  );
  t.same(
    events.slice(2).map((e) => e.event),
    [
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ],
  );
  t.match(events[8], { output_index: 1, item: { id: 'fc_abc_0', call_id: 'call_1', name: 'f', arguments: '' } });
  t.match(events[11], { item_id: 'fc_abc_0', output_index: 1, name: 'f', arguments: '{"a":1}' });
  t.match(events.at(-1), {
    response: {
      status: 'completed',
      output: [
        { type: 'message' },
        { type: 'function_call', id: 'fc_abc_0', arguments: '{"a":1}' },
        { type: 'function_call', id: 'fc_abc_1', call_id: 'call_2', arguments: '{}' },
      ],
    },
  });
});

t.test("interleaved parallel calls: each call's arguments add up by index, none lost", async (t) => {
  const events = run(
    (f, m) =>
      f.delta(toolDelta(0, 'call_1', 'f', '{"a"'), state) +
      f.delta(toolDelta(1, 'call_2', 'g', '{"b"'), state) +
      f.delta(toolDelta(0, undefined, undefined, ':1'), state) +
      f.delta(toolDelta(1, undefined, undefined, ':2}'), state) +
      f.delta(toolDelta(0, undefined, undefined, '}'), state) +
      f.done({ ...(m.done() as DoneFrame), finish_reason: 'tool_calls' }, state),
  );
  t.same(
    events.slice(2).map((e) => e.event),
    [
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ],
    'one item after the other, as OpenAI streams them: the second waits for the first',
  );
  t.same(
    events.slice(3, 6).map((e) => [e['item_id'], e['delta']]),
    [
      ['fc_abc_0', '{"a"'],
      ['fc_abc_0', ':1'],
      ['fc_abc_0', '}'],
    ],
    "the first call's deltas, the one after the second call began included",
  );
  t.match(events[6], { item_id: 'fc_abc_0', output_index: 0, arguments: '{"a":1}' });
  t.match(events[8], { output_index: 1, item: { id: 'fc_abc_1', call_id: 'call_2', name: 'g', arguments: '' } });
  t.match(events[9], { item_id: 'fc_abc_1', output_index: 1, delta: '{"b":2}' }, 'what it gathered, as one delta');
  t.match(events[10], { item_id: 'fc_abc_1', output_index: 1, arguments: '{"b":2}' });
  t.match(events.at(-1), {
    response: {
      output: [
        { type: 'function_call', id: 'fc_abc_0', call_id: 'call_1', name: 'f', arguments: '{"a":1}' },
        { type: 'function_call', id: 'fc_abc_1', call_id: 'call_2', name: 'g', arguments: '{"b":2}' },
      ],
    },
  });
  t.equal((events.at(-1)!['response'] as { output: unknown[] }).output.length, 2, 'one item per call');
});

t.test("a call's fragment after its item is done still reaches the response's output", async (t) => {
  const events = run(
    (f, m) =>
      f.delta(toolDelta(0, 'call_1', 'f', '{"a"'), state) +
      f.delta(m.delta('text between') as DeltaFrame, state) +
      f.delta(toolDelta(0, undefined, undefined, ':1}'), state) +
      f.done({ ...(m.done() as DoneFrame), finish_reason: 'tool_calls' }, state),
  );
  t.match(events.at(-1), {
    response: { output: [{ id: 'fc_abc_0', status: 'completed', arguments: '{"a":1}' }, { type: 'message' }] },
  });
});

t.test('a failure while a call waits for another: both are in the failed output, incomplete', async (t) => {
  const events = run(
    (f) =>
      f.delta(toolDelta(0, 'call_1', 'f', '{"a"'), state) +
      f.delta(toolDelta(1, 'call_2', 'g', '{"b"'), state) +
      f.delta(toolDelta(0, undefined, undefined, ':1'), state) +
      f.error(new AgentbusError('backend_error', 'down')),
  );
  t.match(events.at(-1), {
    type: 'response.failed',
    response: {
      output: [
        { id: 'fc_abc_0', status: 'incomplete', arguments: '{"a":1' },
        { id: 'fc_abc_1', status: 'incomplete', call_id: 'call_2', arguments: '{"b"' },
      ],
    },
  });
});

t.test('cut by max_output_tokens: response.incomplete', async (t) => {
  const events = run(
    (f, m) =>
      f.delta(m.delta('a') as DeltaFrame, state) +
      f.done({ ...(m.done() as DoneFrame), finish_reason: 'length' }, state),
  );
  t.match(events.at(-1), {
    event: 'response.incomplete',
    response: {
      status: 'incomplete',
      incomplete_details: { reason: 'max_output_tokens' },
      // OpenAI marks the cut message itself incomplete too, keeping its text.
      output: [{ type: 'message', status: 'incomplete', content: [{ text: 'a' }] }],
    },
  });
  t.match(
    events.find((e) => e.event === 'response.output_item.done'),
    { item: { status: 'incomplete' } },
  );
});

t.test('a whole answer of an incomplete response has its message incomplete, stored or not', async (t) => {
  const items = outputItems('resp_abc', { content: 'cut sho', toolCalls: [], finishReason: 'length' });
  t.match(items, [{ type: 'message', status: 'incomplete', content: [{ text: 'cut sho' }] }]);
  t.match(outputItems('resp_abc', { content: 'whole', toolCalls: [] }), [{ status: 'completed' }]);
});

t.test('an empty answer is still one empty message', async (t) => {
  const events = run((f, m) => f.done(m.done() as DoneFrame, state));
  t.match(events.at(-1), { response: { output: [{ type: 'message', content: [{ text: '' }] }] } });
});

t.test('a failure mid-answer: an error event, then response.failed; never completed', async (t) => {
  const events = run(
    (f, m) => f.delta(m.delta('par') as DeltaFrame, state) + f.error(new AgentbusError('backend_error', 'down')),
  );
  t.same(
    events.slice(-2).map((e) => e.event),
    ['error', 'response.failed'],
  );
  t.match(events.at(-2), { code: 'backend_error', message: 'down' });
  t.match(events.at(-1), { response: { status: 'failed', error: { code: 'backend_error' }, usage: null } });
  t.match(
    events.at(-1),
    { response: { output: [{ type: 'message', status: 'incomplete', content: [{ text: 'par' }] }] } },
    'the message cut by the failure holds what was sent, incomplete (not in_progress, not empty)',
  );
  t.notOk(events.some((e) => e.event === 'response.completed'));
});

t.test('thinking: a reasoning item with reasoning_text deltas, closed before the answer', async (t) => {
  const thought = (text: string): DeltaFrame => ({ type: 'delta', seq: 1, request_id: identity.id, reasoning: text });
  const events = run(
    (f, m) =>
      f.delta(thought('Hmm'), state) +
      f.delta(thought(', easy'), state) +
      f.delta(m.delta('4') as DeltaFrame, state) +
      f.done(m.done() as DoneFrame, state),
  );
  t.same(
    events.slice(2).map((e) => e.event),
    [
      'response.output_item.added',
      'response.content_part.added',
      'response.reasoning_text.delta',
      'response.reasoning_text.delta',
      'response.reasoning_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ],
  );
  t.match(events[2], { item: { id: 'rs_abc', type: 'reasoning', summary: [], content: [] } });
  t.match(events[6], { item_id: 'rs_abc', text: 'Hmm, easy' });
  t.match(events.at(-1), {
    response: {
      output: [
        { type: 'reasoning', content: [{ type: 'reasoning_text', text: 'Hmm, easy' }] },
        { type: 'message', content: [{ text: '4' }] },
      ],
    },
  });
});

t.test("a failure mid-answer is told in the request's terms when the route gives them", async (t) => {
  const body = { model: 'testing', input: 'hi' };
  const format = responsesEventFormat(identity, echo, (err) => inResponsesTerms(err, body));
  const refusal = new AgentbusError('invalid_request', 'raise max_tokens', { param: 'max_tokens' });
  const events = eventsOf(format.error(refusal));
  t.match(events[0], { event: 'error', param: 'max_output_tokens', message: 'raise max_output_tokens' });
  t.match(events[1], { event: 'response.failed', response: { error: { message: 'raise max_output_tokens' } } });
});

t.test("a refusal: the message's refusal part, its deltas and done, after the text's part", async (t) => {
  const refusal = (text: string): DeltaFrame => ({ type: 'delta', seq: 1, request_id: identity.id, refusal: text });
  const only = run(
    (f, m) =>
      f.delta(refusal('I cannot'), state) + f.delta(refusal(' help'), state) + f.done(m.done() as DoneFrame, state),
  );
  t.same(
    only.slice(2).map((e) => e.event),
    [
      'response.output_item.added',
      'response.content_part.added',
      'response.refusal.delta',
      'response.refusal.delta',
      'response.refusal.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ],
  );
  t.match(only[3], { item_id: 'msg_abc', content_index: 0, part: { type: 'refusal', refusal: '' } });
  t.match(only[4], { item_id: 'msg_abc', output_index: 0, content_index: 0, delta: 'I cannot' });
  t.match(only[6], { content_index: 0, refusal: 'I cannot help' });
  t.match(only[7], { part: { type: 'refusal', refusal: 'I cannot help' } });
  const refused = [{ type: 'message', content: [{ type: 'refusal', refusal: 'I cannot help' }] }];
  t.match(only.at(-1), { response: { status: 'completed', output: refused } });
  t.equal((only.at(-1)!['response'] as { output: unknown[] }).output.length, 1, 'one message, nothing else');
  t.match(outputItems('resp_abc', { content: '', toolCalls: [], refusal: 'I cannot help' }), [
    { content: [{ type: 'refusal', refusal: 'I cannot help' }] },
  ]);

  const mixed = run(
    (f, m) =>
      f.delta(m.delta('Well.') as DeltaFrame, state) +
      f.delta(refusal('No.'), state) +
      f.done(m.done() as DoneFrame, state),
  );
  t.same(
    mixed.slice(4).map((e) => [e.event, e['content_index']]),
    [
      ['response.output_text.delta', 0],
      ['response.output_text.done', 0],
      ['response.content_part.done', 0],
      ['response.content_part.added', 1],
      ['response.refusal.delta', 1],
      ['response.refusal.done', 1],
      ['response.content_part.done', 1],
      ['response.output_item.done', undefined],
      ['response.completed', undefined],
    ],
  );
  const both = [
    { type: 'output_text', text: 'Well.' },
    { type: 'refusal', refusal: 'No.' },
  ];
  t.match(mixed.at(-1), { response: { output: [{ type: 'message', content: both }] } });
  t.match(outputItems('resp_abc', { content: 'Well.', toolCalls: [], refusal: 'No.' }), [{ content: both }]);

  const cut = run((f) => f.delta(refusal('I can'), state) + f.error(new AgentbusError('backend_error', 'gone')));
  t.match(cut.at(-1), {
    event: 'response.failed',
    response: { output: [{ type: 'message', status: 'incomplete', content: [{ type: 'refusal', refusal: 'I can' }] }] },
  });
});
