import t from 'tap';
import { AgentbusError, noSuchResponseMessage, type StoredTurn } from '../../bus-schemas/index.js';
import { storedResponsesRoutes } from '../../gateway/openai/stored-responses-routes.js';
import { storedTurnGateway } from '../helpers/stored-turn-gateway.js';

// The stored-response routes against a fake bus whose one "worker" has a turn for every request
// id it is asked about, a chat completion's too, as memory keeps every turn by its request id, but
// `resp_missing` (the worker's own 404, as for an unknown id or another key's).
const MISSING = 'resp_missing';
const notFound = (id: string) => ({
  error: {
    message: noSuchResponseMessage(id),
    type: 'invalid_request_error',
    param: 'response_id',
    code: 'response_not_found',
  },
});

// What memory holds of a turn's input, by response id; any other id added one user message "hi".
const INPUTS: Record<string, StoredTurn['input_messages']> = {
  resp_parts: [
    { role: 'system', content: 'Be terse.', developer: true },
    { role: 'system', content: 'AB', part_lengths: [1, 1] },
    { role: 'user', content: 'Hello 👋', part_lengths: [3, 0, 5] },
    { role: 'assistant', content: 'onetwo', part_lengths: [3, 3] },
    { role: 'assistant', content: 'AnoB', part_lengths: [1, 2, 1], refusal_parts: [1] },
    { role: 'assistant', content: 'no', refusal_parts: [0] },
    // Lengths that do not add up to the content (nothing writes them): one part, not a wrong split.
    { role: 'user', content: 'whole', part_lengths: [2, 2] },
    // Since the text parts are joined by a newline: the lengths and the newlines between them tell.
    { role: 'user', content: 'U1\nU2\n\nok', part_lengths: [2, 2, 0, 2] },
    { role: 'user', content: 'U1 U2', part_lengths: [2, 2] },
  ],
};

const gateway = () =>
  storedTurnGateway(storedResponsesRoutes, (id) =>
    id === MISSING
      ? new AgentbusError('response_not_found', notFound(MISSING).error.message, { param: 'response_id' })
      : {
          request_id: id,
          session_id: 'conv_1',
          agent: 'documentation',
          model: 'llama3.2',
          input_messages: INPUTS[id] ?? [{ role: 'user', content: 'hi' }],
          assistant_response: 'hello',
          tool_calls: null,
          finish_reason: 'stop',
          prompt_tokens: 3,
          completion_tokens: 1,
          created_at: 1_700_000_000,
          metadata: null,
        },
  );

t.test('a Responses id is read, listed and deleted over the bus', async (t) => {
  const { app, asked } = await gateway();
  const got = await app.inject({ method: 'GET', url: '/v1/responses/resp_abc' });
  t.equal(got.statusCode, 200);
  t.match(got.json(), { id: 'resp_abc', object: 'response', status: 'completed' });
  t.equal((await app.inject({ method: 'GET', url: '/v1/responses/resp_abc/input_items' })).statusCode, 200);
  t.match((await app.inject({ method: 'DELETE', url: '/v1/responses/resp_abc' })).json(), { deleted: true });
  t.same(
    asked.map((query) => [query.op, query.response_id]),
    [
      ['get', 'resp_abc'],
      ['get', 'resp_abc'],
      ['delete', 'resp_abc'],
    ],
  );
});

t.test('an id the Responses API did not hand out is 404 on every route, and memory is not asked', async (t) => {
  const { app, asked } = await gateway();
  for (const id of ['chatcmpl-abc', 'cmpl-abc', 'conv_abc', 'abc', 'RESP_abc'])
    for (const [method, path] of [
      ['GET', ''],
      ['GET', '/input_items'],
      ['DELETE', ''],
    ] as const) {
      const res = await app.inject({ method, url: `/v1/responses/${id}${path}` });
      t.equal(res.statusCode, 404, `${method} ${id}${path}`);
      t.same(res.json(), {
        error: {
          message: noSuchResponseMessage(id),
          type: 'invalid_request_error',
          // As the worker's 404 for a response id it does not hold: one shape for both.
          param: 'response_id',
          code: 'response_not_found',
        },
      });
    }
  t.same(asked, [], 'a chat completion stored in memory is neither read nor deleted');
});

t.test('every answer and refusal names its request in X-Request-ID, as the memory query it asks', async (t) => {
  const { app, asked } = await gateway();
  for (const [method, url] of [
    ['GET', '/v1/responses/resp_abc'],
    ['GET', '/v1/responses/resp_abc/input_items'],
    ['DELETE', '/v1/responses/resp_abc'],
  ] as const) {
    const res = await app.inject({ method, url });
    t.equal(res.statusCode, 200, `${method} ${url}`);
    t.equal(res.headers['x-request-id'], asked.at(-1)!.request_id, `${method} ${url}: the bus query's id`);
    t.match(res.headers['x-request-id'], /^memq-/);
  }
  // Refused before memory is asked: an SDK error's requestID still names the request.
  for (const url of [
    '/v1/responses/chatcmpl-abc',
    '/v1/responses/resp_abc?stream=true',
    '/v1/responses/resp_abc/input_items?limit=0',
  ]) {
    const res = await app.inject({ method: 'GET', url });
    t.equal(res.statusCode >= 400, true, url);
    t.match(res.headers['x-request-id'], /^memq-/, url);
  }
});

t.test('a query parameter given more than once is named as repeated, not as mistyped', async (t) => {
  const { app, asked } = await gateway();
  for (const [path, param] of [
    ['/input_items?limit=2&limit=3', 'limit'],
    ['/input_items?order=asc&order=desc', 'order'],
    ['/input_items?after=msg_1&after=msg_2', 'after'],
    ['?stream=false&stream=false', 'stream'],
  ] as const) {
    const res = await app.inject({ method: 'GET', url: `/v1/responses/resp_abc${path}` });
    t.equal(res.statusCode, 400, path);
    t.same(
      res.json(),
      {
        error: {
          message: `The query parameter "${param}" was given more than once; send it once.`,
          type: 'invalid_request_error',
          param,
          code: 'invalid_request',
        },
      },
      path,
    );
  }
  t.same(asked, [], 'memory is not asked');
  const once = await app.inject({
    method: 'GET',
    url: '/v1/responses/resp_abc/input_items?limit=2&include[]=&include[]=',
  });
  t.equal(once.statusCode, 200, 'include[] may repeat: it is a list');
});

t.test('cancel: a stored response is found as GET finds it, then refused, as none is a background one', async (t) => {
  const { app, asked } = await gateway();
  // The openai SDK sends no body; a client setting Content-Type on every call, an empty one.
  for (const headers of [{}, { 'content-type': 'application/json' }]) {
    const res = await app.inject({ method: 'POST', url: '/v1/responses/resp_abc/cancel', headers });
    t.equal(res.statusCode, 400);
    t.same(res.json(), {
      error: {
        message:
          'Only responses created with background=true can be cancelled; this gateway does not create background ' +
          'responses.',
        type: 'invalid_request_error',
        param: 'response_id',
        code: 'invalid_request',
      },
    });
    t.equal(res.headers['x-request-id'], asked.at(-1)!.request_id, 'named as the lookup it asked');
  }
  t.same(
    asked.map((query) => [query.op, query.response_id]),
    [
      ['get', 'resp_abc'],
      ['get', 'resp_abc'],
    ],
    'looked up, never deleted',
  );

  // Unknown to memory, or not a response's id at all: the same 404 as GET.
  for (const id of [MISSING, 'chatcmpl-abc']) {
    const cancel = await app.inject({ method: 'POST', url: `/v1/responses/${id}/cancel` });
    const get = await app.inject({ method: 'GET', url: `/v1/responses/${id}` });
    t.equal(cancel.statusCode, 404, id);
    t.same(cancel.json(), notFound(id), id);
    t.same(cancel.json(), get.json(), `${id}: as GET answers`);
  }

  const query = await app.inject({ method: 'POST', url: '/v1/responses/resp_abc/cancel?stream=true' });
  t.equal(query.statusCode, 400);
  t.match(query.json(), { error: { param: 'stream', message: /Unknown query parameter/ } });
});

t.test('input_items: a developer message, text parts and refusals read back as they were sent', async (t) => {
  const { app } = await gateway();
  const res = await app.inject({ method: 'GET', url: '/v1/responses/resp_parts/input_items?order=asc' });
  t.equal(res.statusCode, 200);
  const input = (text: string) => ({ type: 'input_text', text });
  const output = (text: string) => ({ type: 'output_text', text, annotations: [] });
  t.same(
    res.json<{ data: Array<{ role: string; content: unknown }> }>().data.map(({ role, content }) => ({
      role,
      content,
    })),
    [
      { role: 'developer', content: [input('Be terse.')] },
      { role: 'system', content: [input('A'), input('B')] },
      { role: 'user', content: [input('Hel'), input(''), input('lo 👋')] },
      { role: 'assistant', content: [output('one'), output('two')] },
      { role: 'assistant', content: [output('A'), { type: 'refusal', refusal: 'no' }, output('B')] },
      { role: 'assistant', content: [{ type: 'refusal', refusal: 'no' }] },
      { role: 'user', content: [input('whole')] },
      { role: 'user', content: [input('U1'), input('U2'), input(''), input('ok')] },
      { role: 'user', content: [input('U1 U2')] },
    ],
  );
});
