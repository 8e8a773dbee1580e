import t from 'tap';
import type { ChatMessage } from '../../bus-schemas/index.js';
import { clientSentHistory } from '../../common/client-history.js';
import { buildPrompt, newInputMessages } from '../../workers/prompt.js';
import { agentWith } from '../helpers/fake-provider.js';

// The prompt a worker sends: system prompt, the request's standing instructions, examples, stored history,
// then the rest of the request — with tool results kept right after the calls that end the history, where
// OpenAI-compatible backends take them.

const agent = { ...agentWith('testing'), systemPrompt: 'You test.', examples: [{ user: 'ping', assistant: 'pong' }] };
const history: ChatMessage[] = [
  { role: 'user', content: 'Weather in Lima?' },
  {
    role: 'assistant',
    content: '',
    tool_calls: [{ id: 'c1', type: 'function', function: { name: 'w', arguments: '{}' } }],
  },
];
const roles = (messages: ChatMessage[]) => messages.map((m) => m.role);

t.test('system prompt, examples, history, request', async (t) => {
  const { messages: prompt, storedHistory } = buildPrompt(agent, history.slice(0, 1), {
    messages: [{ role: 'user', content: 'hi' }],
  });
  t.same(roles(prompt), ['system', 'user', 'assistant', 'user', 'user']);
  t.equal(prompt[0]!.content, 'You test.');
  t.same(storedHistory, { start: 3, end: 4 }, 'after the system prompt and the examples');
});

t.test("a Chat Completions request's system messages join the agent's, before examples and history", async (t) => {
  const request: ChatMessage[] = [
    { role: 'system', content: 'Be brief.' },
    { role: 'tool', content: '24 °C', tool_call_id: 'c1' },
    { role: 'user', content: 'and tomorrow?' },
  ];
  const { messages: prompt, storedHistory } = buildPrompt(agent, history, { messages: request });
  t.same(roles(prompt), ['system', 'user', 'assistant', 'user', 'assistant', 'tool', 'user']);
  t.same(prompt[0], { role: 'system', content: 'You test.\n\nBe brief.' }, 'one system message: strict templates');
  t.same(storedHistory, { start: 3, end: 5 }, 'after the system prompt and the examples');
});

t.test('a Chat Completions request of system messages alone asks them now: they follow the history', async (t) => {
  const request: ChatMessage[] = [{ role: 'system', content: 'Summarise the conversation.' }];
  const done: ChatMessage[] = [
    { role: 'user', content: 'Weather in Lima?' },
    { role: 'assistant', content: '24 °C.' },
  ];
  const { messages: prompt, storedHistory } = buildPrompt(agent, done, { messages: request });
  t.same(roles(prompt), ['system', 'user', 'assistant', 'user', 'assistant', 'system'], 'not ending on the answer');
  t.same(prompt.at(-1), request[0]);
  t.same(storedHistory, { start: 3, end: 5 });
});

t.test('without stored history too, standing instructions come before the examples', async (t) => {
  const request: ChatMessage[] = [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'hi' },
  ];
  const prompt = buildPrompt(agent, [], { messages: request }).messages;
  t.same(roles(prompt), ['system', 'user', 'assistant', 'user']);
  t.equal(prompt[0]!.content, 'You test.\n\nBe brief.');
  const several = buildPrompt({ ...agent, systemPrompt: '' }, [], {
    messages: [{ role: 'system', content: 'One.' }, ...request],
  }).messages;
  t.equal(several[0]!.content, 'One.\n\nBe brief.', 'each in order; an empty system prompt adds no blank lines');
});

t.test(
  'the Responses API: `instructions` join the system prompt, system input items stay where they stand',
  async (t) => {
    const request: ChatMessage[] = [
      { role: 'system', content: 'Be brief.' },
      { role: 'tool', content: '24 °C', tool_call_id: 'c1' },
      { role: 'system', content: 'Use Celsius.' },
      { role: 'user', content: 'and tomorrow?' },
    ];
    const responses = { messages: request, input_appends: true, opens_with_instructions: true };
    const prompt = buildPrompt(agent, history, responses).messages;
    t.same(
      prompt.map((m) => m.content),
      ['You test.\n\nBe brief.', 'ping', 'pong', 'Weather in Lima?', '', '24 °C', 'Use Celsius.', 'and tomorrow?'],
    );
    const withoutInstructions = buildPrompt(agent, history, { messages: request.slice(1), input_appends: true });
    t.same(roles(withoutInstructions.messages).slice(3), ['user', 'assistant', 'tool', 'system', 'user']);
  },
);

t.test(
  "Chat Completions: assistant messages are the client's own history; the turn keeps what follows them",
  async (t) => {
    const messages: ChatMessage[] = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'a' },
      { role: 'assistant', content: 'b' },
      { role: 'user', content: 'c' },
    ];
    t.ok(clientSentHistory({ messages }));
    t.same(newInputMessages({ messages }), [{ role: 'user', content: 'c' }]);
    t.test('the Responses API (input_appends): every input item is new, and stored history comes first', async (t) => {
      t.notOk(clientSentHistory({ messages, input_appends: true }));
      t.same(
        newInputMessages({ messages, input_appends: true }),
        messages,
        'a system or developer input item too: OpenAI carries it into the next response',
      );
      t.same(
        newInputMessages({ messages, input_appends: true, opens_with_instructions: true }),
        messages.slice(1),
        'the instructions are not carried',
      );
      const result: ChatMessage = { role: 'tool', tool_call_id: 'c1', content: 'sunny' };
      t.same(
        newInputMessages({ messages: [messages[0]!, result, messages[3]!], input_appends: true }),
        [result, messages[0], messages[3]],
        'results that open the input are stored right after the calls they answer',
      );
    });
  },
);
