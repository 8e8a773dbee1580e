import t from 'tap';
import type { ChatMessage, ResponseFormat, ToolDefinition } from '../../bus-schemas/index.js';
import { loadRedactor } from '../../common/redaction.js';
import { mapJsonText, redactRequest, secretsInRequest } from '../../common/request-text.js';

// Secrets outside message text: tool-call arguments, tool definitions, response_format, stop.
const redactor = loadRedactor();
const OPENAI = ['sk-', 'proj-', 'A1b2C3d4E5'.repeat(3)].join('');
const STRIPE = ['sk_', 'live_', 'Z9y8X7w6V5'.repeat(3)].join('');
const HF = ['hf_', 'Q1w2E3r4T5'.repeat(4)].join('');

const assistant = (args: string): ChatMessage => ({
  role: 'assistant',
  content: '',
  tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'deploy', arguments: args } }],
});
const tool: ToolDefinition = {
  type: 'function',
  function: {
    name: 'charge',
    description: `Charges a card with key ${STRIPE}.`,
    parameters: {
      type: 'object',
      properties: { token: { type: 'string', default: HF }, amount: { type: 'integer', default: 5 } },
    },
  },
};
const responseFormat: ResponseFormat = {
  type: 'json_schema',
  json_schema: { name: 'out', schema: { type: 'object', examples: [{ key: OPENAI }] } },
};

t.test('tool-call arguments: string values masked, the JSON still valid, other values kept', async (t) => {
  const args = JSON.stringify({ env: { OPENAI_KEY: OPENAI, replicas: 3 }, note: 'plain', password: 'hunter22' });
  const [message] = redactRequest(redactor, { messages: [assistant(args)] }).messages;
  const sent = message!.role === 'assistant' ? message!.tool_calls![0]!.function.arguments : '';
  t.same(JSON.parse(sent), {
    env: { OPENAI_KEY: '[REDACTED:openai_key]', replicas: 3 },
    note: 'plain',
    password: '[REDACTED:password_assignment]',
  });
  t.notOk(sent.includes(OPENAI));
  const plain = '{ "city" : "Dhaka" }';
  t.equal(
    mapJsonText(plain, (text) => text),
    plain,
    'arguments without a secret keep their bytes',
  );
  t.equal(
    mapJsonText(`not json ${OPENAI}`, (text) => redactor.redact(text)),
    'not json [REDACTED:openai_key]',
    'arguments that are not JSON are masked as text',
  );
  const proto = mapJsonText(`{"__proto__": {"x": "${OPENAI}"}}`, (text) => redactor.redact(text));
  t.same(JSON.parse(proto), { ['__proto__']: { x: '[REDACTED:openai_key]' } });
  t.equal(({} as Record<string, unknown>)['x'], undefined, 'no prototype was touched');
});

t.test('tool definitions, response_format, stop sequences and tool messages are masked', async (t) => {
  const request = {
    messages: [
      { role: 'user', content: 'charge it' },
      { role: 'tool', tool_call_id: 'call_1', content: `token ${HF}` },
    ] satisfies ChatMessage[],
    tools: [tool],
    responseFormat,
    stop: [`END ${OPENAI}`],
  };
  const masked = redactRequest(redactor, request);
  const text = JSON.stringify(masked);
  for (const secret of [OPENAI, STRIPE, HF]) t.notOk(text.includes(secret), 'no secret left');
  t.equal(masked.tools[0]!.function.description, 'Charges a card with key [REDACTED:stripe_key].');
  t.same(masked.tools[0]!.function.parameters, {
    type: 'object',
    properties: {
      token: { type: 'string', default: '[REDACTED:huggingface_token]' },
      amount: { type: 'integer', default: 5 },
    },
  });
  t.same(masked.stop, ['END [REDACTED:openai_key]']);
  t.equal(masked.messages[0], request.messages[0], 'an unchanged message is the same object');
  t.same(
    secretsInRequest(redactor, request).sort(),
    ['huggingface_token', 'openai_key', 'stripe_key'],
    'detection reads the same strings',
  );
});

t.test('detection: each place on its own makes the request hold a secret', async (t) => {
  const user: ChatMessage = { role: 'user', content: 'hi' };
  t.same(secretsInRequest(redactor, { messages: [user] }), []);
  t.same(secretsInRequest(redactor, { messages: [user, assistant(`{"k":"${OPENAI}"}`)] }), ['openai_key']);
  t.same(secretsInRequest(redactor, { messages: [user, assistant('{"password":"hunter22"}')] }), [
    'password_assignment',
  ]);
  t.same(secretsInRequest(redactor, { messages: [user], tools: [tool] }).sort(), ['huggingface_token', 'stripe_key']);
  t.same(secretsInRequest(redactor, { messages: [user], responseFormat }), ['openai_key']);
  t.same(secretsInRequest(redactor, { messages: [user], toolChoice: 'auto', stop: ['DB_PASS="x1y2z3"'] }), [
    'env_secret_assignment',
  ]);
  const escaped = JSON.stringify({ key: ['-----BEGIN PGP PRIVATE', ' KEY BLOCK-----\nlQOY\n'].join('') });
  t.same(secretsInRequest(redactor, { messages: [user, assistant(escaped)] }), ['pgp_private_key'], 'decoded');
});

t.test('arguments nested deeper than any body are masked as text, without overflowing', async (t) => {
  const deep = `${'['.repeat(100_000)}"${OPENAI}"${']'.repeat(100_000)}`;
  const masked = mapJsonText(deep, (text) => redactor.redact(text));
  t.notOk(masked.includes(OPENAI));
  t.same(secretsInRequest(redactor, { messages: [assistant(deep)] }), ['openai_key']);
});

t.test('a request without secrets is returned as it came', async (t) => {
  const request = { messages: [{ role: 'user', content: 'hi' }] satisfies ChatMessage[], tools: [] };
  const masked = redactRequest(redactor, request);
  t.equal(masked.messages, request.messages);
});
