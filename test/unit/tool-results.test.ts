import t from 'tap';
import { AgentbusError, type ChatMessage } from '../../bus-schemas/index.js';
import { checkToolResults } from '../../gateway/chat/tool-results.js';

const user: ChatMessage = { role: 'user', content: 'weather?' };
const calling = (...ids: string[]): ChatMessage => ({
  role: 'assistant',
  content: '',
  tool_calls: ids.map((id) => ({ id, type: 'function', function: { name: 'f', arguments: '{}' } })),
});
const result = (id: string): ChatMessage => ({ role: 'tool', content: 'r', tool_call_id: id });
const refusal = (messages: ChatMessage[], continuing = false, inputAppends = false) => {
  try {
    checkToolResults({ messages, input_appends: inputAppends }, continuing);
  } catch (err) {
    if (err instanceof AgentbusError) return { code: err.code, param: err.param, message: err.message };
    throw err;
  }
  return undefined;
};

t.test('tool results that answer the calls before them pass', async (t) => {
  t.equal(refusal([user, calling('a', 'b'), result('a'), result('b')]), undefined, 'parallel calls');
  t.equal(refusal([user, calling('a'), { role: 'system', content: 'note' }, result('a')]), undefined);
  t.equal(refusal([calling('a'), result('a'), user, calling('b'), result('b')]), undefined, 'two rounds');
  t.equal(refusal([result('a')], true), undefined, 'opening a continued session: the stored turn called it');
  t.equal(refusal([{ role: 'system', content: 's' }, result('a')], true), undefined, 'instructions may come first');
});

t.test("a tool result that answers no call: OpenAI's 400, naming the message", async (t) => {
  const notAResponse = {
    code: 'invalid_request',
    message: /^Invalid parameter: messages with role 'tool' must be a response to a preceeding message with/,
  };
  t.match(refusal([user, result('a')]), { ...notAResponse, param: 'messages[1].role' });
  t.match(refusal([result('a')]), { ...notAResponse, param: 'messages[0].role' }, 'no session: nothing to answer');
  t.match(
    refusal([result('a'), user, calling('b'), result('b')], true),
    { ...notAResponse, param: 'messages[0].role' },
    'own history: no stored turn is read, so the opening result answers nothing',
  );
  t.match(refusal([user, { role: 'assistant', content: 'hi' }, result('a')]), { param: 'messages[2].role' });
  t.match(refusal([user, calling('a'), result('a'), user, result('a')]), { param: 'messages[4].role' });
});

t.test('a tool result whose id is not among the calls before it names its tool_call_id', async (t) => {
  t.match(refusal([user, calling('a'), result('b')]), {
    code: 'invalid_request',
    param: 'messages[2].tool_call_id',
    message: "Invalid parameter: 'tool_call_id' of 'b' not found in 'tool_calls' of previous message.",
  });
  t.match(refusal([calling('a'), result('a'), user, calling('b'), result('a')]), {
    param: 'messages[4].tool_call_id',
  });
});

t.test('a call left without a result before the next message: OpenAI 400 listing the ids', async (t) => {
  t.match(refusal([user, calling('a', 'b'), result('a'), user]), {
    code: 'invalid_request',
    param: 'messages[3].role',
    message:
      "An assistant message with 'tool_calls' must be followed by tool messages responding to each " +
      "'tool_call_id'. The following tool_call_ids did not have response messages: b",
  });
  t.match(refusal([user, calling('a'), { role: 'assistant', content: 'and?' }]), { param: 'messages[2].role' });
  // OpenAI refuses calls that end the request too; the model would go on as if it had their results.
  t.match(refusal([user, calling('a', 'b'), result('a')]), { param: 'messages[1].role', message: /messages: b$/ });
  t.match(refusal([user, calling('a')]), { param: 'messages[1].role', message: /messages: a$/ });
});

t.test("a second result for the same call is OpenAI's 400 naming both; a later turn may reuse an id", async (t) => {
  t.match(refusal([user, calling('a', 'b'), result('a'), result('b'), result('a')]), {
    code: 'invalid_request',
    param: 'messages[4].tool_call_id',
    message: "Invalid parameter: Duplicate value for 'tool_call_id' of 'a', in messages[2] and messages[4].",
  });
  t.match(refusal([result('a'), result('a')], true), { param: 'messages[1].tool_call_id' });
  t.equal(refusal([user, calling('a'), result('a'), user, calling('a'), result('a')]), undefined);
});

t.test('a Responses input adds to the stored history: its opening results answer the stored turn', async (t) => {
  const assistant: ChatMessage = { role: 'assistant', content: 'noted' };
  t.equal(refusal([result('a'), assistant, user], true, true), undefined, 'the worker checks them against memory');
  t.match(refusal([result('a'), assistant, user], true), { param: 'messages[0].role' }, 'chat: own history');
});
