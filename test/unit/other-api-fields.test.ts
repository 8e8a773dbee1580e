import Fastify from 'fastify';
import t from 'tap';
import { AgentbusError } from '../../bus-schemas/index.js';
import { registerErrorHandling } from '../../gateway/http/errors.js';
import { chatCompletionRequestSchema } from '../../gateway/openai/chat-completion-request.schema.js';
import { completionRequestSchema } from '../../gateway/openai/completion-request.schema.js';
import { completionToChatInput } from '../../gateway/openai/completion-to-chat-input.js';
import {
  CHAT_FIELDS_ON_COMPLETIONS,
  CHAT_FIELDS_ON_RESPONSES,
  OTHER_FIELDS_ON_QUERY,
  otherApiConversationFirst,
  RESPONSES_FIELDS_ON_CHAT,
} from '../../gateway/openai/other-api-fields.js';
import { responsesRequestSchema } from '../../gateway/openai/responses-request.schema.js';
import { responsesToChatInput } from '../../gateway/openai/responses-to-chat.js';
import { toChatInput } from '../../gateway/openai/to-chat-input.js';
import { queryRequestSchema, refuseFieldsOfOtherRoutes } from '../../gateway/legacy/query.js';
import { clientFrameError } from '../helpers/client-frame-error.js';
import { SMALL_INPUT_LIMITS } from '../helpers/input-limits.js';

const limits = SMALL_INPUT_LIMITS;

function refusal(translate: () => unknown): { param: string | null; message: string } | undefined {
  try {
    translate();
  } catch (err) {
    if (err instanceof AgentbusError) return { param: err.param, message: err.message };
    throw err;
  }
  return undefined;
}

// OpenAI answers another API's field with 400 "Unknown parameter"; dropped, a cap would not apply.
t.test("another API's fields are refused by name, with what this API has instead", async (t) => {
  const responses = (extra: object) =>
    refusal(() => responsesToChatInput({ model: 'm', input: 'hi', ...extra }, false, limits));
  t.match(responses({ max_tokens: 20 }), {
    param: 'max_tokens',
    message: /"max_tokens" cannot be honoured: it is a Chat Completions field; .*max_output_tokens/,
  });
  for (const field of ['messages', 'max_completion_tokens', 'response_format', 'seed', 'presence_penalty'])
    t.match(responses({ [field]: field === 'messages' ? [] : 1 }), { param: field }, field);
  t.match(responses({ stop: ['said'] }), { param: 'stop' });
  t.match(responses({ stop: 'said' }), { param: 'stop' }, 'a stop given as one string');
  t.equal(responses({ stop: [], n: 1, logit_bias: {}, seed: null }), undefined, 'values that change nothing pass');
  t.equal(responses({ stop: '' }), undefined);

  const chat = (extra: object) =>
    refusal(() =>
      toChatInput({ model: 'm', messages: [{ role: 'user', content: 'hi' }], ...extra } as never, false, limits),
    );
  t.match(chat({ max_output_tokens: 5 }), { param: 'max_output_tokens', message: /max_completion_tokens/ });
  t.match(chat({ previous_response_id: 'resp_x' }), { param: 'previous_response_id', message: /X-Session-ID/ });
  t.equal(chat({ some_vendor_extension: true }), undefined, 'unknown fields of no API still pass');

  const completions = (extra: object) =>
    refusal(() => completionToChatInput({ model: 'm', prompt: 'hi', ...extra }, false, limits));
  t.match(completions({ max_completion_tokens: 5 }), { param: 'max_completion_tokens', message: /max_tokens/ });
  t.match(completions({ messages: [{ role: 'user', content: 'x' }] }), { param: 'messages' });
  t.equal(completions({ max_tokens: 5 }), undefined);
  // No tool calls, no output format on a text completion: asked for, they are refused, not dropped.
  t.match(completions({ response_format: { type: 'json_object' } }), {
    param: 'response_format',
    message: /"response_format" cannot be honoured: .*plain text/,
  });
  t.match(completions({ tools: [{ type: 'function', function: { name: 'f' } }] }), { param: 'tools' });
  t.match(completions({ tool_choice: 'required' }), { param: 'tool_choice' });
  // Not the chat route's advice ("send tools instead"), which this API refuses as well.
  const noToolCalls = /has no tool calls: use \/v1\/chat\/completions/;
  t.match(completions({ functions: [{ name: 'f' }] }), { param: 'functions', message: noToolCalls });
  t.match(completions({ function_call: { name: 'f' } }), { param: 'function_call', message: noToolCalls });
  t.match(completions({ text: { format: { type: 'json_object' } } }), { param: 'text' });
  t.match(completions({ instructions: 'Be brief.' }), { param: 'instructions' });
  t.match(completions({ reasoning_effort: 'high' }), { param: 'reasoning_effort' });
  t.equal(
    completions({
      tools: [],
      tool_choice: 'none',
      functions: [],
      function_call: 'auto',
      response_format: { type: 'text' },
      text: { format: { type: 'text' } },
    }),
    undefined,
    'values that change nothing pass',
  );
});

// /query is agentbus's own legacy shape: what the chat routes or Ollama's /api/generate would use
// (images, a format, tools, sampling settings) would be lost there without a word.
t.test('/query refuses the fields of the other routes that it would drop, naming where they work', async (t) => {
  const query = (extra: object) => refusal(() => refuseFieldsOfOtherRoutes({ query: 'hi', ...extra }));
  t.match(query({ images: ['aGk='] }), {
    param: 'images',
    message: /"images" cannot be honoured: it is an Ollama \/api\/generate field; \/query takes text only/,
  });
  t.match(query({ images: 'aGk=' }), { param: 'images' }, 'one image sent as a string, not a list');
  t.match(query({ options: 'temperature=0' }), { param: 'options' }, 'options that are not an object');
  t.match(query({ format: 'json' }), { param: 'format', message: /plain text/ });
  t.match(query({ format: { type: 'object' } }), { param: 'format' }, 'a JSON schema');
  t.match(query({ options: { temperature: 0.2 } }), { param: 'options', message: /temperature and max_tokens/ });
  t.match(query({ think: false }), { param: 'think' });
  t.match(query({ messages: [{ role: 'user', content: 'x' }] }), { param: 'messages', message: /session_id/ });
  t.match(query({ tools: [{ type: 'function', function: { name: 'f' } }] }), { param: 'tools' });
  t.match(query({ response_format: { type: 'json_object' } }), { param: 'response_format' });
  t.match(query({ max_completion_tokens: 5 }), { param: 'max_completion_tokens', message: /max_tokens/ });
  for (const field of ['top_p', 'seed', 'presence_penalty', 'frequency_penalty', 'instructions', 'reasoning_effort'])
    t.match(query({ [field]: field === 'instructions' || field === 'reasoning_effort' ? 'x' : 1 }), { param: field });
  t.match(query({ stop: '\n' }), { param: 'stop' });
  // The Responses API's own: a format, a continuation, reasoning, verbosity (and Chat's verbosity).
  t.match(query({ text: { format: { type: 'json_object' } } }), { param: 'text', message: /\/v1\/responses/ });
  t.match(query({ text: { verbosity: 'low' } }), { param: 'text' });
  t.match(query({ previous_response_id: 'resp_1' }), { param: 'previous_response_id', message: /session_id/ });
  t.match(query({ reasoning: { effort: 'high' } }), { param: 'reasoning', message: /\/v1\/responses/ });
  t.match(query({ verbosity: 'low' }), { param: 'verbosity' });
  t.match(query({ n: 2 }), { param: 'n' }, 'and what no route honours');
  t.match(query({ conversation: 'conv_1' }), { param: 'conversation', message: /session_id/ });
  t.match(query({ context: [1, 2] }), { param: 'context', message: /session_id/ }, "nor Ollama's context");
  for (const field of ['raw', 'template', 'suffix'])
    t.match(query({ [field]: field === 'raw' || 'x' }), { param: field });
  t.equal(query({ context: [], raw: false, template: '', suffix: '' }), undefined, "Ollama's Python client's empties");
  t.equal(
    query({ images: [], format: '', options: {}, tools: [], tool_choice: 'none', stop: [], n: 1, seed: null }),
    undefined,
    'values that change nothing pass',
  );
  t.equal(
    query({ text: { format: { type: 'text' } }, reasoning: {}, previous_response_id: null, verbosity: null }),
    undefined,
    "the Responses API's, when they change nothing",
  );
  t.equal(query({ temperature: 0.1, max_tokens: 5, some_client_field: 1 }), undefined, "its own and no route's pass");
});

// Sent without this API's own conversation field, another API's is what the client got wrong:
// "input is required" would read as if no conversation had been sent at all.
t.test("a body with another API's conversation field instead of its own is refused naming that field", async (t) => {
  const app = Fastify({ ajv: { customOptions: { coerceTypes: false, removeAdditional: false, verbose: true } } });
  registerErrorHandling(app);
  const routes = [
    [
      '/v1/chat/completions',
      chatCompletionRequestSchema,
      otherApiConversationFirst('messages', RESPONSES_FIELDS_ON_CHAT),
    ],
    ['/v1/responses', responsesRequestSchema, otherApiConversationFirst('input', CHAT_FIELDS_ON_RESPONSES)],
    ['/v1/completions', completionRequestSchema, otherApiConversationFirst('prompt', CHAT_FIELDS_ON_COMPLETIONS)],
    ['/query', queryRequestSchema, otherApiConversationFirst('query', OTHER_FIELDS_ON_QUERY)],
  ] as const;
  for (const [url, body, preValidation] of routes) app.post(url, { schema: { body }, preValidation }, async () => 'ok');
  await app.ready();
  t.teardown(() => app.close());
  const error = async (url: string, payload: object) =>
    (await app.inject({ method: 'POST', url, payload })).json<{ error: { param: string; message: string } }>().error;
  const messages = [{ role: 'user', content: 'hi' }];

  t.match(await error('/v1/responses', { model: 'm', messages }), {
    param: 'messages',
    message: /"messages" cannot be honoured: it is a Chat Completions field; send the conversation as input/,
  });
  t.match(await error('/v1/chat/completions', { model: 'm', input: 'hi' }), {
    param: 'input',
    message: /it is a Responses field; send the conversation as messages/,
  });
  t.match(await error('/v1/completions', { model: 'm', messages }), { param: 'messages', message: /one prompt/ });
  t.match(await error('/v1/completions', { model: 'm', input: 'hi' }), { param: 'input', message: /one prompt/ });
  t.match(await error('/v1/responses', { model: 'm', input: null, messages }), { param: 'messages' });
  t.match(await error('/query', { prompt: 'hi' }), { param: 'prompt', message: /takes the question as query/ });
  t.match(await error('/query', { messages }), { param: 'messages' });
  t.match(await error('/query', { agent: 'a' }), { param: 'query', message: 'query is required' });

  // Without another API's conversation the schema's own words stand, as does a field of the
  // other API that carries no conversation.
  t.match(await error('/v1/responses', { model: 'm' }), { param: 'input', message: 'input is required' });
  t.match(await error('/v1/responses', { model: 'm', max_tokens: 5 }), { param: 'input' });
  t.match(await error('/v1/chat/completions', { model: 'm' }), { param: 'messages', message: 'messages is required' });
  t.equal(
    (await app.inject({ method: 'POST', url: '/v1/responses', payload: { model: 'm', input: 'hi' } })).body,
    'ok',
  );
});

t.test("the same on the WebSocket: a chat or response.create frame with the other API's conversation", async (t) => {
  t.match(
    clientFrameError({ type: 'response.create', id: 'r1', model: 'm', messages: [{ role: 'user', content: 'hi' }] }),
    {
      id: 'r1',
      param: 'messages',
      message: /send the conversation as input/,
    },
  );
  t.match(clientFrameError({ type: 'chat', id: 'c1', agent: 'm', input: 'hi' }), {
    id: 'c1',
    param: 'input',
    message: /send the conversation as messages/,
  });
  t.match(clientFrameError({ type: 'chat', id: 'c2', agent: 'm' }), {
    param: 'messages',
    message: /messages is required/,
  });
  t.equal(clientFrameError({ type: 'chat', id: 'c3', messages: [{ role: 'user', content: 'hi' }] }), undefined);
});
