import t from 'tap';
import {
  AgentbusError,
  noSuchCompletionMessage,
  noSuchResponseMessage,
  type StoredTurn,
} from '../../bus-schemas/index.js';
import { storedCompletionsRoutes } from '../../gateway/openai/stored-completions-routes.js';
import { storedTurnGateway } from '../helpers/stored-turn-gateway.js';

// The stored chat completion routes against a fake bus whose one "worker" holds the turn
// `chatcmpl-a` (a conversation with tool calls, a refusal and text parts) and answers any other id
// with its own 404, `response_not_found`, as memory names every turn a response.
const ID = 'chatcmpl-a';
const CALLS = [{ id: 'call_1', type: 'function' as const, function: { name: 'search', arguments: '{}' } }];
const TURN: StoredTurn = {
  request_id: ID,
  session_id: 'conv_1',
  agent: 'documentation',
  model: 'llama3.2',
  input_messages: [
    { role: 'user', content: 'Look\nthis up', part_lengths: [4, 7] },
    { role: 'assistant', content: '', tool_calls: CALLS },
    { role: 'tool', content: 'found', tool_call_id: 'call_1' },
    { role: 'assistant', content: 'AnoB', part_lengths: [1, 2, 1], refusal_parts: [1], name: 'bot' },
  ],
  assistant_response: 'I cannot say.',
  refusal: 'I cannot say.',
  tool_calls: null,
  finish_reason: 'stop',
  prompt_tokens: 7,
  completion_tokens: 4,
  created_at: 1_700_000_000,
  metadata: { topic: 'x' },
};

const gateway = () =>
  storedTurnGateway(storedCompletionsRoutes, (id) =>
    id === ID
      ? TURN
      : // Memory names every turn a response: its own 404 says so.
        new AgentbusError('response_not_found', noSuchResponseMessage(id), { param: 'response_id' }),
  );

t.test('a stored turn reads back as its chat.completion: a refusal apart, usage, metadata', async (t) => {
  const { app } = await gateway();
  const res = await app.inject({ method: 'GET', url: `/v1/chat/completions/${ID}` });
  t.equal(res.statusCode, 200);
  t.same(res.json(), {
    id: ID,
    object: 'chat.completion',
    created: 1_700_000_000,
    model: 'documentation',
    system_fingerprint: null,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: null, refusal: 'I cannot say.' },
        logprobs: null,
        finish_reason: 'stop',
      },
    ],
    usage: { prompt_tokens: 7, completion_tokens: 4, total_tokens: 11 },
    metadata: { topic: 'x' },
    conversation_id: 'conv_1',
  });
  t.match(res.headers['x-request-id'], /^memq-/);
});

t.test(
  'messages: every kind, null where OpenAI has none, a refusal apart, paged by after in either order',
  async (t) => {
    const { app } = await gateway();
    const all = (await app.inject({ method: 'GET', url: `/v1/chat/completions/${ID}/messages` })).json();
    t.same(all, {
      object: 'list',
      data: [
        {
          id: `${ID}-0`,
          role: 'user',
          content: 'Look\nthis up',
          name: null,
          content_parts: [
            { type: 'text', text: 'Look' },
            { type: 'text', text: 'this up' },
          ],
        },
        {
          id: `${ID}-1`,
          role: 'assistant',
          content: null,
          name: null,
          content_parts: null,
          refusal: null,
          tool_calls: CALLS,
        },
        { id: `${ID}-2`, role: 'tool', content: 'found', tool_call_id: 'call_1' },
        {
          id: `${ID}-3`,
          role: 'assistant',
          content: 'AB',
          name: 'bot',
          content_parts: [
            { type: 'text', text: 'A' },
            { type: 'text', text: 'no' },
            { type: 'text', text: 'B' },
          ],
          refusal: 'no',
        },
      ],
      first_id: `${ID}-0`,
      last_id: `${ID}-3`,
      has_more: false,
    });
    const page = await app.inject({
      method: 'GET',
      url: `/v1/chat/completions/${ID}/messages?order=desc&limit=1&after=${ID}-3`,
    });
    t.match(page.json(), { data: [{ id: `${ID}-2` }], has_more: true });
    const stray = await app.inject({ method: 'GET', url: `/v1/chat/completions/${ID}/messages?after=msg_x` });
    t.equal(stray.statusCode, 400);
    t.match(stray.json(), { error: { param: 'after', message: /not a message of chat completion "chatcmpl-a"/ } });
  },
);

t.test('delete answers as OpenAI does', async (t) => {
  const { app, asked } = await gateway();
  const res = await app.inject({ method: 'DELETE', url: `/v1/chat/completions/${ID}` });
  t.same(res.json(), { id: ID, object: 'chat.completion.deleted', deleted: true });
  t.same(
    asked.map((query) => [query.op, query.response_id]),
    [['delete', ID]],
  );
});

t.test("an unknown id is the worker's 404 in chat terms; another kind's id is not asked about", async (t) => {
  const { app, asked } = await gateway();
  const notFound = (id: string) => ({
    error: {
      message: noSuchCompletionMessage(id),
      type: 'invalid_request_error',
      param: 'completion_id',
      code: 'completion_not_found',
    },
  });
  for (const id of ['chatcmpl-gone', 'resp_abc', 'cmpl-abc', 'chatcmpl-a.documentation'])
    for (const [method, path] of [
      ['GET', ''],
      ['GET', '/messages'],
      ['DELETE', ''],
    ] as const) {
      const res = await app.inject({ method, url: `/v1/chat/completions/${id}${path}` });
      t.equal(res.statusCode, 404, `${method} ${id}${path}`);
      t.same(res.json(), notFound(id));
    }
  t.same(new Set(asked.map((query) => query.response_id)), new Set(['chatcmpl-gone']));
});

t.test('a stray slash after /v1/chat/completions is an unknown URL, not a refused metadata update', async (t) => {
  const { app } = await gateway();
  const res = await app.inject({ method: 'POST', url: '/v1/chat/completions/', payload: {} });
  t.equal(res.statusCode, 404);
  t.match(res.json(), { error: { code: 'unknown_url', message: 'Unknown URL: POST /v1/chat/completions/' } });
  const update = await app.inject({ method: 'POST', url: `/v1/chat/completions/${ID}`, payload: {} });
  t.match(update.json(), { error: { code: 'unknown_url', message: /metadata .* is not served/ } });
});
