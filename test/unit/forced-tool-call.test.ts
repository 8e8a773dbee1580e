import t from 'tap';
import { AgentbusError } from '../../bus-schemas/index.js';
import { forcedToolCall } from '../../workers/providers/forced-tool-call.js';

const tool = (name: string, parameters?: Record<string, unknown>) => ({
  type: 'function' as const,
  function: { name, ...(parameters ? { parameters } : {}) },
});
const weather = tool('get_weather', { type: 'object', properties: { city: { type: 'string' } } });
const time = tool('get_time');

t.test('auto, none, or no tools: the model may answer in text', async (t) => {
  t.equal(forcedToolCall([weather], 'auto'), undefined);
  t.equal(forcedToolCall([weather], 'none'), undefined);
  t.equal(forcedToolCall([weather], undefined), undefined);
  t.equal(forcedToolCall([], 'required'), undefined);
});

t.test("a named function (or required with one tool): the output is the function's arguments", async (t) => {
  for (const forced of [
    forcedToolCall([weather, time], { type: 'function', function: { name: 'get_weather' } }),
    forcedToolCall([weather], 'required'),
  ]) {
    t.same(forced?.schema, weather.function.parameters);
    t.match(forced?.instruction, { role: 'system', content: /get_weather/ });
    t.same(forced?.toCall('{ "city": "Dhaka" }'), { name: 'get_weather', arguments: '{"city":"Dhaka"}' });
  }
  t.same(forcedToolCall([time], 'required')?.schema, { type: 'object', properties: {} }, 'no parameters: any object');
});

t.test('required with several tools: the output names one and carries its arguments', async (t) => {
  const forced = forcedToolCall([weather, time], 'required')!;
  t.match(forced.schema, {
    oneOf: [
      { properties: { name: { enum: ['get_weather'] }, arguments: weather.function.parameters } },
      { properties: { name: { enum: ['get_time'] } } },
    ],
  });
  t.same(forced.toCall('{"name": "get_time", "arguments": {}}'), { name: 'get_time', arguments: '{}' });
  t.throws(() => forced.toCall('{"name": "rm_rf", "arguments": {}}'), AgentbusError);
});

t.test("output that is not the call is the request's 400, never a call, never the backend's fault", async (t) => {
  const forced = forcedToolCall([weather], 'required')!;
  const refused = { code: 'invalid_request', param: 'tools', message: /forced tool call/ };
  t.throws(() => forced.toCall('{"city": "Dh'), refused, 'not JSON: the schema could not be met');
  t.notOk(new AgentbusError('invalid_request', 'x').retryable, 'not retried, not counted by the breaker');
});

t.test('cut by a token limit: finish_reason "length" and the arguments as far as written', async (t) => {
  const forced = forcedToolCall([weather], 'required')!;
  t.same(forced.answer('\n{"city": "Dh', true), {
    call: { name: 'get_weather', arguments: '{"city": "Dh' },
    finishReason: 'length',
  });
  t.same(forced.answer('', true), { call: { name: 'get_weather', arguments: '' }, finishReason: 'length' });
  const choice = forcedToolCall([weather, time], 'required')!;
  t.same(choice.answer('{"name": "get_weather", "arguments": {"ci', true), {
    call: { name: 'get_weather', arguments: '{"ci' },
    finishReason: 'length',
  });
  t.same(choice.answer('{"name":"get_time", "argu', true), {
    call: { name: 'get_time', arguments: '' },
    finishReason: 'length',
  });
  t.same(choice.answer('{"name": "get_time"', true), {
    call: { name: 'get_time', arguments: '' },
    finishReason: 'length',
  });
  // Arguments written whole, only the closing brace cut: held to the schema as a whole call's are.
  t.throws(() => choice.answer('{"name": "get_weather", "arguments": {"city": 7}', true), {
    param: 'tools',
    message: /arguments\.city must be a string/,
  });
  t.same(choice.answer('{"name": "get_weather", "arguments": {"city": "Oslo"}', true), {
    call: { name: 'get_weather', arguments: '{"city": "Oslo"}' },
    finishReason: 'length',
  });
  for (const output of ['{"na', '{"name": "get_ti', '{"name": "rm_rf", "arguments": {'])
    t.same(choice.answer(output, true), { call: undefined, finishReason: 'length' }, output);
  t.same(choice.answer('{"name": "get_time", "arguments": {}}', true), {
    call: { name: 'get_time', arguments: '{}' },
    finishReason: 'tool_calls',
  });
});

t.test('parameters: none or untyped is an object; another type is refused as OpenAI refuses it', async (t) => {
  t.same(forcedToolCall([tool('f', { properties: { a: { type: 'string' } } })], 'required')?.schema, {
    type: 'object',
    properties: { a: { type: 'string' } },
  });
  t.same(forcedToolCall([tool('f', {})], 'required')?.schema, { type: 'object' });
  t.throws(() => forcedToolCall([tool('f', { type: 'string' })], 'required'), {
    code: 'invalid_request',
    param: 'tools',
    message: /type "object"/,
  });
});

t.test('output that is JSON but breaks the schema the grammar only partly held is a 400 too', async (t) => {
  const contradicting = tool('pick', {
    type: 'object',
    properties: { a: { type: 'integer', enum: ['x', 'y'] }, d: { type: 'string', maxLength: 4 } },
    maxProperties: 1,
  });
  const forced = forcedToolCall([contradicting], 'required')!;
  for (const output of ['{"a": "y"}', '{"d": "1000-05-05"}', '{"a": 1, "d": "x"}'])
    t.throws(() => forced.toCall(output), { code: 'invalid_request', param: 'tools', message: /"pick"/ }, output);
  const choice = forcedToolCall([weather, contradicting], 'required')!;
  t.throws(() => choice.toCall('{"name": "pick", "arguments": {"a": "x"}}'), {
    param: 'tools',
    message: /arguments\.a must be an integer/,
  });
  t.same(choice.toCall('{"name": "pick", "arguments": {}}'), { name: 'pick', arguments: '{}' }, 'what matches passes');
  // A schema its output cannot be checked against is refused before the model runs.
  t.throws(
    () => forcedToolCall([tool('odd', { type: 'object', properties: { a: { $ref: '#/nowhere' } } })], 'required'),
    { code: 'invalid_request', param: 'tools', message: /function "odd" cannot be checked: can't resolve reference/ },
  );
});
