import t from 'tap';
import { AgentbusError, type StoredTurn } from '../../bus-schemas/index.js';
import { candidateResponses, resolveItemReferences } from '../../gateway/openai/item-references.js';
import type { ResponsesBody } from '../../gateway/openai/responses-request.schema.js';

const turn = (requestId: string, extra: Partial<StoredTurn> = {}): StoredTurn => ({
  request_id: requestId,
  session_id: 'conv_1',
  agent: 'documentation',
  model: 'llama3.2',
  input_messages: [{ role: 'user', content: 'What is NATS?' }],
  assistant_response: 'A messaging system.',
  tool_calls: null,
  finish_reason: 'stop',
  prompt_tokens: 3,
  completion_tokens: 4,
  created_at: 1_700_000_000,
  metadata: null,
  ...extra,
});
const stored = new Map<string, StoredTurn>([
  ['resp_abc', turn('resp_abc')],
  [
    'resp_x_in1',
    turn('resp_x_in1', {
      assistant_response: '',
      finish_reason: 'tool_calls',
      tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } }],
    }),
  ],
  ['chatcmpl-q', turn('chatcmpl-q', { assistant_response: 'from chat' })],
]);
const asked: string[] = [];
const read = (id: string) => {
  asked.push(id);
  return Promise.resolve(stored.get(id));
};
const resolve = (input: ResponsesBody['input']) => resolveItemReferences({ model: 'documentation', input }, read);
const failure = async (input: ResponsesBody['input']) => {
  try {
    await resolve(input);
  } catch (err) {
    if (err instanceof AgentbusError) return { code: err.code, param: err.param, status: err.status };
    throw err;
  }
  return undefined;
};

t.test('item ids name the responses they may belong to', async (t) => {
  t.same(candidateResponses('msg_abc'), ['resp_abc', 'abc']);
  t.same(candidateResponses('fc_abc_0'), ['resp_abc', 'abc']);
  t.same(candidateResponses('msg_abc_in2'), ['resp_abc', 'abc', 'resp_abc_in2', 'abc_in2']);
  t.same(candidateResponses('fco_abc_in0'), ['resp_abc', 'abc']);
  t.same(candidateResponses('rs_abc_in1'), ['resp_abc_in1', 'abc_in1'], 'reasoning is never an input item');
  t.same(candidateResponses('item_x'), []);
});

t.test('references become the items they name: output and input items, any response of the key', async (t) => {
  asked.length = 0;
  const body = await resolve([
    { type: 'item_reference', id: 'msg_abc_in0' },
    { type: 'item_reference', id: 'msg_abc' },
    { role: 'user', content: 'and then?' },
    { id: 'fc_x_in1_0' },
    { type: 'item_reference', id: 'msg_chatcmpl-q' },
    { type: 'item_reference', id: 'rs_abc' },
  ]);
  t.match(body.input, [
    { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'What is NATS?' }] },
    { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'A messaging system.' }] },
    { role: 'user', content: 'and then?' },
    { type: 'function_call', call_id: 'call_1', name: 'f', arguments: '{}' },
    { type: 'message', content: [{ text: 'from chat' }] },
    // Kept in its place (later items keep their index in errors); the translation drops it.
    { type: 'reasoning', id: 'rs_abc' },
  ]);
  t.equal((body.input as unknown[]).length, 6);
  t.equal(asked.filter((id) => id === 'resp_abc').length, 1, 'one read per response');
});

t.test('an unknown item is a 404 naming it; a body without references reads nothing', async (t) => {
  t.match(await failure([{ type: 'item_reference', id: 'msg_nope' }]), {
    code: 'item_not_found',
    param: 'input[0].id',
    status: 404,
  });
  t.match(
    await failure([
      { role: 'user', content: 'hi' },
      { type: 'item_reference', id: 'msg_abc_in9' },
    ]),
    {
      code: 'item_not_found',
      param: 'input[1].id',
    },
  );
  t.match(await failure([{ type: 'item_reference', id: 'something-else' }]), { code: 'item_not_found' });
  t.match(await failure([{ type: 'item_reference' }]), { code: 'invalid_request', param: 'input[0].id' });
  asked.length = 0;
  await resolve('plain');
  await resolve([{ role: 'user', content: 'hi' }]);
  t.same(asked, []);
});

t.test('references to many responses are bounded', async (t) => {
  const many = Array.from({ length: 25 }, (_, i) => ({ type: 'item_reference', id: `msg_r${i}` }));
  const anyResponse = (id: string) => Promise.resolve(turn(id));
  await t.rejects(resolveItemReferences({ model: 'documentation', input: many }, anyResponse), {
    code: 'invalid_request',
    param: 'input[20].id',
  });
  const twenty = await resolveItemReferences({ model: 'documentation', input: many.slice(0, 20) }, anyResponse);
  t.equal((twenty.input as unknown[]).length, 20);
});
