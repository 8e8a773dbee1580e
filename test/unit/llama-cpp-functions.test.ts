import t from 'tap';
import { AgentbusError, type ChatMessage, type ToolDefinition } from '../../bus-schemas/index.js';
import { toFunctions, toToolCalls } from '../../workers/providers/llama-cpp/functions.js';
import { toChatHistory } from '../../workers/providers/llama-cpp/request.js';

// tool_choice "auto" on llama.cpp: the tools as node-llama-cpp functions, the calls it parses as
// tool calls, and a conversation's calls and results as function calls its chat wrapper renders.

const weather: ToolDefinition = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Weather of a city',
    parameters: { type: 'object', properties: { city: { type: 'string', description: 'its name' } } },
  },
};
const call = (id: string, city: string) => ({
  id,
  type: 'function' as const,
  function: { name: 'get_weather', arguments: JSON.stringify({ city }) },
});

t.test('tools become functions whose parameters a grammar can hold; others are a 400 naming the function', (t) => {
  t.same(toFunctions([weather, { type: 'function', function: { name: 'now' } }]), {
    get_weather: {
      description: 'Weather of a city',
      // Descriptions stay: node-llama-cpp writes them into the functions' documentation.
      params: { type: 'object', properties: { city: { type: 'string', description: 'its name' } } },
    },
    now: { params: { type: 'object', properties: {} } },
  });
  const patterned: ToolDefinition = {
    type: 'function',
    function: { name: 'f', parameters: { type: 'object', properties: { a: { type: 'float' } } } },
  };
  t.throws(() => toFunctions([weather, patterned]), {
    code: 'invalid_request',
    param: 'tools',
    message: /^Function "f": .*the type "float".*properties\.a\.type/,
  });
  const array: ToolDefinition = { type: 'function', function: { name: 'g', parameters: { type: 'array' } } };
  const error = (() => {
    try {
      toFunctions([array]);
    } catch (err) {
      return err;
    }
  })();
  t.ok(error instanceof AgentbusError);
  t.match((error as AgentbusError).message, /^The parameters of function "g" must be .*"object"/);
  t.end();
});

t.test("node-llama-cpp's parsed calls are tool calls with JSON arguments, checked against the schema", (t) => {
  const now: ToolDefinition = { type: 'function', function: { name: 'now' } };
  t.same(toToolCalls(undefined, [weather]), []);
  t.same(
    toToolCalls(
      [
        { functionName: 'get_weather', params: { city: 'Paris' } },
        { functionName: 'now', params: undefined },
      ],
      [weather, now],
    ),
    [
      { name: 'get_weather', arguments: '{"city":"Paris"}' },
      { name: 'now', arguments: '{}' },
    ],
  );
  // The grammar covers part of JSON Schema: what still breaks the schema is the request's 400.
  t.throws(() => toToolCalls([{ functionName: 'get_weather', params: { city: 7 } }], [weather]), {
    code: 'invalid_request',
    param: 'tools',
    message: /call of "get_weather" .*\(arguments\.city must be a string\)/,
  });
  t.end();
});

t.test('a call with its result is a function call in the model turn; the result message goes into it', (t) => {
  const messages: ChatMessage[] = [
    { role: 'user', content: 'Weather in Paris and Dhaka?' },
    { role: 'assistant', content: 'Looking.', tool_calls: [call('c1', 'Paris'), call('c2', 'Dhaka')] },
    { role: 'tool', tool_call_id: 'c2', content: '{"temp": 30}' },
    { role: 'system', content: 'Be brief.' },
    { role: 'tool', tool_call_id: 'c1', content: 'sunny' },
    { role: 'user', content: 'Thanks' },
  ];
  t.same(toChatHistory(messages), [
    { type: 'user', text: 'Weather in Paris and Dhaka?' },
    {
      type: 'model',
      response: [
        'Looking.',
        { type: 'functionCall', name: 'get_weather', params: { city: 'Paris' }, result: 'sunny', startsNewChunk: true },
        { type: 'functionCall', name: 'get_weather', params: { city: 'Dhaka' }, result: { temp: 30 } },
      ],
    },
    { type: 'system', text: 'Be brief.' },
    { type: 'user', text: 'Thanks' },
  ]);
  t.end();
});

t.test('a call without a result stays as its JSON; a result whose call is elsewhere is text', (t) => {
  const messages: ChatMessage[] = [
    { role: 'user', content: 'Weather?' },
    { role: 'assistant', content: '', tool_calls: [call('c1', 'Paris')] },
  ];
  t.same(toChatHistory(messages), [
    { type: 'user', text: 'Weather?' },
    { type: 'model', response: ['{"name":"get_weather","arguments":"{\\"city\\":\\"Paris\\"}"}'] },
  ]);
  // A session's stored turn holds the call the client's result answers: here none does.
  t.same(toChatHistory([{ role: 'tool', tool_call_id: 'c9', content: 'sunny' }]), [
    { type: 'user', text: 'Result of tool call c9: sunny' },
  ]);
  t.end();
});
