import t from 'tap';
import type { StoredTurn } from '../../bus-schemas/index.js';
import { checkedInputItems, refuseDuplicateItems } from '../../gateway/openai/duplicate-items.js';
import type { ResponsesBody } from '../../gateway/openai/responses-request.schema.js';

const turn = (requestId: string, createdAt: number, previous?: string): StoredTurn => ({
  request_id: requestId,
  session_id: 'conv_1',
  agent: 'documentation',
  model: 'llama3.2',
  input_messages: [{ role: 'user', content: 'q' }],
  assistant_response: 'a',
  tool_calls: null,
  finish_reason: 'stop',
  prompt_tokens: 1,
  completion_tokens: 1,
  created_at: createdAt,
  metadata: null,
  ...(previous !== undefined ? { previous_response_id: previous } : {}),
});
// A chain r1 ← r2 ← r3, and r9 answered apart (another branch), before all of them.
const stored = new Map<string, StoredTurn>([
  ['resp_r9', turn('resp_r9', 50)],
  ['resp_r1', turn('resp_r1', 100)],
  ['resp_r2', turn('resp_r2', 200, 'resp_r1')],
  ['resp_r3', turn('resp_r3', 300, 'resp_r2')],
]);
const asked: string[] = [];
const read = (id: string) => {
  asked.push(id);
  return Promise.resolve(stored.get(id));
};
const user = { role: 'user' as const, content: 'next' };
const answer = (id: string) => ({ id, type: 'message', role: 'assistant' as const, content: 'a' });
const check = (input: ResponsesBody['input'], previous?: string) =>
  refuseDuplicateItems({ model: 'documentation', input, previous_response_id: previous ?? null }, read);
const duplicate = (id: string) => ({
  code: 'invalid_request',
  status: 400,
  param: 'input',
  message: `Duplicate item found with id ${id}. Remove duplicate items from your input and try again.`,
});

t.test('an id twice in one input is refused; items without an id never are', async (t) => {
  await t.rejects(check([answer('msg_x'), user, answer('msg_x')]), duplicate('msg_x'));
  await t.rejects(check([{ type: 'item_reference', id: 'msg_r1' }, { id: 'msg_r1' }]), duplicate('msg_r1'));
  asked.length = 0;
  await t.resolves(check([user, user, { role: 'assistant', content: 'a' }, user]));
  t.same(asked, [], 'nothing read without previous_response_id');
});

t.test('a full history without previous_response_id is taken as it is', async (t) => {
  asked.length = 0;
  await t.resolves(check([user, answer('msg_r1'), user, answer('msg_r2'), user]));
  t.same(asked, []);
});

t.test('an item of the previous_response_id chain is refused, however far back', async (t) => {
  await t.rejects(check([answer('msg_r3'), user], 'resp_r3'), duplicate('msg_r3'));
  await t.rejects(check([user, answer('msg_r1')], 'resp_r3'), duplicate('msg_r1'));
  await t.rejects(check([{ id: 'msg_r2_in0', role: 'user', content: 'q' }], 'resp_r3'), duplicate('msg_r2_in0'));
  await t.rejects(check([{ type: 'reasoning', id: 'rs_r2' }, user], 'resp_r3'), duplicate('rs_r2'));
});

t.test('items of responses off the chain, or of none, are no duplicates', async (t) => {
  asked.length = 0;
  await t.resolves(check([answer('msg_r9'), user], 'resp_r3'));
  t.same(asked, ['resp_r9', 'r9', 'resp_r3', 'resp_r2', 'resp_r1'], 'read back to the oldest response named');
  asked.length = 0;
  await t.resolves(check([answer('msg_r3'), user], 'resp_r2'), 'a later response is not on the chain');
  t.same(asked, ['resp_r3', 'r3', 'resp_r2'], 'the chain is read no further back than the item');
  asked.length = 0;
  await t.resolves(check([answer('msg_unknown'), answer('item_1'), user], 'resp_r3'));
  t.same(asked, ['resp_unknown', 'unknown'], 'no chain read when no id names a stored item');
});

t.test('an item of the conversation continued is refused, whichever branch holds it', async (t) => {
  const inConversation = (input: ResponsesBody['input'], conversation: ResponsesBody['conversation']) =>
    refuseDuplicateItems({ model: 'documentation', input, conversation }, read);
  await t.rejects(inConversation([answer('msg_r9'), user], 'conv_1'), duplicate('msg_r9'));
  await t.rejects(inConversation([user, answer('msg_r2')], { id: 'conv_1' }), duplicate('msg_r2'));
  await t.resolves(inConversation([answer('msg_r9'), user], 'conv_2'), "another conversation's item is new to it");
  await t.resolves(inConversation([answer('msg_unknown'), user], 'conv_1'));
});

t.test('checkedInputItems reads each response once for the check and the references', async (t) => {
  asked.length = 0;
  const body = await checkedInputItems(
    {
      model: 'documentation',
      input: [{ type: 'item_reference', id: 'msg_r9' }, user],
      previous_response_id: 'resp_r3',
    },
    read,
    1000,
  );
  t.match(body.input, [{ id: 'msg_r9', role: 'assistant' }, user]);
  t.same(asked, ['resp_r9', 'r9', 'resp_r3', 'resp_r2', 'resp_r1']);
});

t.test('an input over the item limit is not checked: its own 400 comes next, without reading the chain', async (t) => {
  asked.length = 0;
  const input = [answer('msg_r1'), answer('msg_r1'), user];
  await t.resolves(checkedInputItems({ model: 'documentation', input, previous_response_id: 'resp_r3' }, read, 2));
  t.same(asked, [], 'nothing read');
});
