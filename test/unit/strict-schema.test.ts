import t from 'tap';
import { AgentbusError } from '../../bus-schemas/index.js';
import { responsesToChatInput } from '../../gateway/openai/responses-to-chat.js';
import { toChatInput } from '../../gateway/openai/to-chat-input.js';
import { SMALL_INPUT_LIMITS } from '../helpers/input-limits.js';

// A strict json_schema whose root is not an object is refused as OpenAI refuses it, on both APIs.
const chat = (jsonSchema: Record<string, unknown>) =>
  toChatInput(
    {
      model: 'm',
      messages: [{ role: 'user', content: 'hi' }],
      response_format: { type: 'json_schema', json_schema: { name: 'answer', ...jsonSchema } },
    },
    false,
    SMALL_INPUT_LIMITS,
  );
const responses = (format: Record<string, unknown>) =>
  responsesToChatInput(
    { model: 'm', input: 'hi', text: { format: { type: 'json_schema', name: 'answer', ...format } } },
    false,
    SMALL_INPUT_LIMITS,
  );
const refusal = (run: () => unknown) => {
  try {
    run();
  } catch (err) {
    if (err instanceof AgentbusError) return err.toOpenAI().error;
    throw err;
  }
  return undefined;
};

t.test('strict, with a root that is not an object: a 400 naming the schema', async (t) => {
  for (const [schema, got] of [
    [{ type: 'string' }, `'type: "string"'`],
    [{ type: 'array', items: { type: 'string' } }, `'type: "array"'`],
    [{ type: ['object', 'null'] }, `'type: ["object","null"]'`],
    [{ anyOf: [{ type: 'object' }, { type: 'string' }] }, 'no type'],
  ] as const) {
    const expected = {
      type: 'invalid_request_error',
      code: 'invalid_request',
      message:
        `Invalid schema for response_format 'answer': a strict schema must be a JSON Schema of ` +
        `'type: "object"', got ${got}.`,
    };
    t.match(
      refusal(() => chat({ strict: true, schema })),
      { ...expected, param: 'response_format.json_schema.schema' },
    );
    t.match(
      refusal(() => responses({ strict: true, schema })),
      { ...expected, message: expected.message.replace('response_format', 'text.format'), param: 'text.format.schema' },
      'the Responses API names its own field',
    );
  }
  t.equal(new AgentbusError('invalid_request', '').status, 400, 'answered 400');
});

t.test('an object root passes strict; without strict any root only guides, as on OpenAI', async (t) => {
  const object = { type: 'object', properties: { a: { type: 'string' } }, required: ['a'] };
  t.match(chat({ strict: true, schema: object }).response_format, { json_schema: { strict: true, schema: object } });
  t.ok(responses({ strict: true, schema: object }).response_format);
  for (const strict of [false, null, undefined]) {
    t.ok(chat({ strict, schema: { type: 'string' } }).response_format, `strict: ${strict}`);
    t.ok(responses({ strict, schema: { type: 'string' } }).response_format, `text.format strict: ${strict}`);
  }
  t.ok(chat({ strict: true }).response_format, 'strict without a schema is left to the backend');
});
