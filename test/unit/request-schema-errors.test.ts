import { Ajv, type ValidateFunction } from 'ajv';
import t from 'tap';
import { messageFromAjvErrors, samplingOptionsSchema } from '../../bus-schemas/index.js';
import { chatCompletionRequestSchema } from '../../gateway/openai/chat-completion-request.schema.js';
import { completionRequestSchema } from '../../gateway/openai/completion-request.schema.js';
import { embeddingRequestSchema } from '../../gateway/openai/embedding-request.schema.js';
import { responsesRequestSchema } from '../../gateway/openai/responses-request.schema.js';

// Compiled as gateway/app.ts has fastify compile it, so the messages are the ones clients see.
const ajv = new Ajv({ coerceTypes: false, removeAdditional: false, allErrors: false, verbose: true, strict: false });
const validate = ajv.compile(chatCompletionRequestSchema);
const check = (body: unknown) => (validate(body) ? null : messageFromAjvErrors(validate.errors, 'body'));

const history = (part: object) => ({
  model: 'testing',
  messages: [
    { role: 'user', content: 'hi' },
    { role: 'assistant', content: [part] },
  ],
});

t.test('refusal: null in a text part is accepted, as OpenAI does (@openai/agents replays it)', async (t) => {
  t.equal(check(history({ type: 'text', text: 'hello', refusal: null })), null);
});

t.test('a bad key inside a content part is named, not the whole content', async (t) => {
  t.match(check(history({ type: 'text', text: 42 })), {
    param: 'messages[1].content[0].text',
    message: /^messages\[1\]\.content\[0\]\.text must be a string/,
  });
  t.match(check(history({ type: 'text', text: 'x', refusal: 7 })), { param: 'messages[1].content[0].refusal' });
});

t.test('a content of no allowed form still lists the forms', async (t) => {
  t.match(check({ model: 'testing', messages: [{ role: 'user', content: 5 }] }), {
    param: 'messages[0].content',
    message: /must be a string, null, or an array of content parts/,
  });
});

t.test('response_format json_schema without its json_schema object names that object, as OpenAI does', async (t) => {
  const format = (response_format: unknown) =>
    check({ model: 'testing', messages: [{ role: 'user', content: 'hi' }], response_format });
  t.same(format({ type: 'json_schema' }), {
    param: 'response_format.json_schema',
    message: 'response_format.json_schema is required',
  });
  t.match(format({ type: 'json_schema', json_schema: {} }), { param: 'response_format.json_schema.name' });
  t.match(format({ type: 'json_schema', json_schema: 5 }), { param: 'response_format.json_schema' });
  t.match(format({ type: 'yaml' }), {
    param: 'response_format.type',
    message: /must be one of: text, json_object, json_schema$/,
  });
  t.match(format({}), { param: 'response_format.type', message: /is required/ });
  for (const valid of [null, { type: 'text' }, { type: 'json_object' }])
    t.equal(format(valid), null, `${JSON.stringify(valid)} passes`);
  t.equal(format({ type: 'json_schema', json_schema: { name: 'answer', schema: { type: 'object' } } }), null);
});

t.test('tools: [] is refused, as OpenAI refuses it; null or no tools pass', async (t) => {
  const body = (extra: object) => ({ model: 'testing', messages: [{ role: 'user', content: 'hi' }], ...extra });
  t.same(check(body({ tools: [] })), { param: 'tools', message: 'tools must have at least 1 item' });
  t.equal(check(body({ tools: null })), null);
  t.equal(check(body({})), null);
});

t.test('store takes a boolean (or null)', async (t) => {
  const body = (store: unknown) => ({ model: 'testing', messages: [{ role: 'user', content: 'hi' }], store });
  for (const valid of [true, false, null]) t.equal(check(body(valid)), null);
  t.match(check(body('no')), { param: 'store' });
});

t.test("schema errors say what is wrong in words, not in ajv's terms", async (t) => {
  const body = (extra: object) => ({ model: 'testing', messages: [{ role: 'user', content: 'hi' }], ...extra });
  t.same(check(body({ max_tokens: '5' })), { param: 'max_tokens', message: 'max_tokens must be an integer or null' });
  t.same(check(body({ temperature: 3 })), { param: 'temperature', message: 'temperature must be at most 2' });
  t.same(check({ model: 'testing', messages: [] }), {
    param: 'messages',
    message: 'messages must have at least 1 item',
  });
});

t.test('a value of an allowed form that breaks its own rule names that rule; a key names the key', async (t) => {
  const responses = ajv.compile(responsesRequestSchema);
  const checkResponses = (body: unknown) => (responses(body) ? null : messageFromAjvErrors(responses.errors, 'body'));
  t.same(checkResponses({ model: 'testing', input: [] }), {
    param: 'input',
    message: 'input must have at least 1 item',
  });
  t.same(checkResponses({ model: 'testing', input: 5 }), {
    param: 'input',
    message:
      'input must be a string, or an array of input items (messages, function_call, function_call_output, item_reference)',
  });
  // OpenAI's own floor: "integer below minimum value. Expected a value >= 16".
  t.same(checkResponses({ model: 'testing', input: 'hi', max_output_tokens: 15 }), {
    param: 'max_output_tokens',
    message: 'max_output_tokens must be at least 16',
  });
  t.equal(checkResponses({ model: 'testing', input: 'hi', max_output_tokens: 16 }), null);
  const key = 'k'.repeat(70);
  t.same(check({ model: 'testing', messages: [{ role: 'user', content: 'hi' }], metadata: { [key]: 'v' } }), {
    param: 'metadata',
    message: `metadata key "${key}" must be at most 64 characters long`,
  });
});

t.test('user: null is accepted as left out, like the other optional fields', async (t) => {
  t.equal(check({ model: 'testing', messages: [{ role: 'user', content: 'hi' }], user: null }), null);
  t.match(check({ model: 'testing', messages: [{ role: 'user', content: 'hi' }], user: 7 }), { param: 'user' });
});

t.test('a tool or tool_choice of a kind OpenAI has and agentbus does not is named by its type', async (t) => {
  const body = (extra: object) => ({ model: 'testing', messages: [{ role: 'user', content: 'hi' }], ...extra });
  t.match(check(body({ tools: [{ type: 'custom', custom: { name: 'c' } }] })), {
    param: 'tools[0].type',
    message: 'tools[0].type "custom" is not supported: it must be "function"',
  });
  t.match(check(body({ tool_choice: { type: 'allowed_tools', allowed_tools: { mode: 'auto', tools: [] } } })), {
    param: 'tool_choice.type',
    message: /^tool_choice.type "allowed_tools" is not supported: it must be "function"/,
  });
  t.match(check(body({ tools: [{ type: 'function' }] })), { param: 'tools[0].function', message: /is required/ });
});

t.test(
  'embeddings input: the rule a form broke, else the list of forms, never an item another form wants',
  async (t) => {
    const embeddings = ajv.compile(embeddingRequestSchema);
    const checkInput = (input: unknown) =>
      embeddings({ model: 'm', input }) ? null : messageFromAjvErrors(embeddings.errors, 'body');
    t.same(checkInput(Array(2049).fill('a')), { param: 'input', message: 'input must have at most 2048 items' });
    t.same(checkInput([-1]), { param: 'input[0]', message: 'input[0] must be at least 0' });
    t.same(checkInput([[]]), { param: 'input[0]', message: 'input[0] must have at least 1 item' });
    t.same(checkInput([1.5]), {
      param: 'input',
      message: 'input must be a string, an array of strings, an array of tokens, or an array of token arrays',
    });
    t.equal(checkInput([[1, 2], [3]]), null);
  },
);

t.test('completions: the fields agentbus refuses are still typed as OpenAI types them', async (t) => {
  const validateCompletion = ajv.compile(completionRequestSchema);
  const checkCompletion = (extra: object) => {
    const body = { model: 'testing', prompt: 'hi', ...extra };
    return validateCompletion(body) ? null : messageFromAjvErrors(validateCompletion.errors, 'body');
  };
  // "yes" was taken as no echo at all, and "2" was refused as if best_of 2 had been asked for.
  t.match(checkCompletion({ echo: 'yes' }), { param: 'echo', message: 'echo must be a boolean or null' });
  t.match(checkCompletion({ best_of: '2' }), { param: 'best_of', message: /best_of must be an integer/ });
  t.match(checkCompletion({ logprobs: 6 }), { param: 'logprobs', message: /logprobs must be at most 5/ });
  t.match(checkCompletion({ suffix: 5 }), { param: 'suffix', message: /suffix must be a string/ });
  t.equal(checkCompletion({ echo: false, best_of: 1, logprobs: null, suffix: null }), null);
});

t.test("seed takes OpenAI's int64 range, its largest included, and refuses beyond it", async (t) => {
  const seeded = (seed: unknown) => check({ model: 'testing', messages: [{ role: 'user', content: 'hi' }], seed });
  t.equal(seeded(JSON.parse('9223372036854775807')), null, 'int64 max, as JSON.parse reads it');
  t.equal(seeded(-(2 ** 63)), null, 'int64 min');
  t.match(seeded(1e30), { param: 'seed', message: 'seed must be at most 9223372036854775807' });
  t.match(seeded(-1e30), { param: 'seed', message: 'seed must be at least -9223372036854775808' });
});

t.test('an absurd answer cap is refused naming its field, on every API and on the bus', async (t) => {
  const chat = { model: 'testing', messages: [{ role: 'user', content: 'hi' }] };
  const completion = ajv.compile(completionRequestSchema);
  const responses = ajv.compile(responsesRequestSchema);
  const checkWith = (validator: ValidateFunction, body: object) =>
    validator(body) ? null : messageFromAjvErrors(validator.errors, 'body');
  for (const huge of [1e300, 99999999999, 2 ** 31]) {
    for (const field of ['max_tokens', 'max_completion_tokens'])
      t.same(check({ ...chat, [field]: huge }), { param: field, message: `${field} must be at most 2147483647` });
    t.match(checkWith(completion, { model: 'testing', prompt: 'hi', max_tokens: huge }), { param: 'max_tokens' });
    t.same(checkWith(responses, { model: 'testing', input: 'hi', max_output_tokens: huge }), {
      param: 'max_output_tokens',
      message: 'max_output_tokens must be at most 2147483647',
    });
    const envelope = ajv.compile(samplingOptionsSchema);
    t.notOk(envelope({ max_tokens: huge }), 'the bus envelope refuses it too');
  }
  t.equal(check({ ...chat, max_tokens: 2 ** 31 - 1, max_completion_tokens: 2 ** 31 - 1 }), null, 'int32 max passes');
  t.equal(checkWith(responses, { model: 'testing', input: 'hi', max_output_tokens: 2 ** 31 - 1 }), null);
});

t.test('stream_options.include_usage: null is accepted as not sent, on both routes', async (t) => {
  const completion = ajv.compile(completionRequestSchema);
  const chat = { model: 'testing', messages: [{ role: 'user', content: 'hi' }], stream: true };
  for (const stream_options of [{ include_usage: null }, null]) {
    t.equal(check({ ...chat, stream_options }), null, `chat: ${JSON.stringify(stream_options)}`);
    t.ok(completion({ model: 'testing', prompt: 'hi', stream: true, stream_options }), 'completions');
  }
  t.match(check({ ...chat, stream_options: { include_usage: 'yes' } }), { param: 'stream_options.include_usage' });
});
