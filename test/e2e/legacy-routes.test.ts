import OpenAI from 'openai';
import t from 'tap';
import { AUTH, startStack } from '../helpers/stack.js';
import { parseSse, sseJson } from '../helpers/sse.js';

const stack = await startStack();
t.teardown(() => stack.close());

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${stack.baseUrl}${path}`, { method: 'POST', headers: { ...AUTH, ...headers }, body: JSON.stringify(body) });
const postJson = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
  const res = await post(path, body, headers);
  return { res, body: await res.json() };
};
const ndjson = (text: string): any[] =>
  text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));
const turnsOf = (sessionId: string) =>
  stack.db.selectFrom('turns').selectAll().where('session_id', '=', sessionId).orderBy('id').execute();
const REVIEWER_PROMPT = /meticulous code reviewer/;

t.test('POST /v1/chat/stream', async (t) => {
  t.test('answers as SSE ending in [DONE] without stream: true, and stores the turn', async (t) => {
    stack.ollama.behave({ tokens: ['streamed', ' anyway'] });
    const res = await post('/v1/chat/stream', {
      model: 'testing',
      messages: [{ role: 'user', content: 'no stream flag' }],
    });
    t.equal(res.status, 200);
    t.match(res.headers.get('content-type'), /^text\/event-stream/);
    const sessionId = res.headers.get('x-session-id')!;
    t.match(sessionId, /^conv_/);
    const { events } = parseSse(await res.text());
    t.equal(events.at(-1)!.data, '[DONE]', 'ends with [DONE]');
    const chunks = sseJson(events);
    t.ok(chunks.every((c) => c.object === 'chat.completion.chunk' && c.model === 'testing'));
    t.same(chunks[0].choices[0].delta, { role: 'assistant', content: '', refusal: null });
    t.equal(chunks.map((c) => c.choices[0].delta.content ?? '').join(''), 'streamed anyway');
    t.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
    t.equal(stack.ollama.requests.at(-1)!.stream, true, 'the backend was asked to stream');

    const rows = await turnsOf(sessionId);
    t.equal(rows.length, 1, 'one turn stored, as for /v1/chat/completions');
    t.match(rows[0], {
      request_id: chunks[0].id,
      agent: 'testing',
      user_input: 'no stream flag',
      assistant_response: 'streamed anyway',
    });
  });

  t.test('stream: false in the body does not turn it into JSON; follow-ups use memory', async (t) => {
    stack.ollama.behave({ tokens: ['one'] });
    const first = await post('/v1/chat/stream', {
      model: 'testing',
      stream: false,
      messages: [{ role: 'user', content: 'first' }],
    });
    t.match(first.headers.get('content-type'), /^text\/event-stream/);
    const sessionId = first.headers.get('x-session-id')!;
    await first.text();
    stack.ollama.behave({ tokens: ['two'] });
    const second = await post(
      '/v1/chat/stream',
      { model: 'testing', messages: [{ role: 'user', content: 'second' }] },
      { 'x-session-id': sessionId },
    );
    t.equal(second.headers.get('x-session-id'), sessionId);
    const last = sseJson(parseSse(await second.text()).events).at(-1);
    t.equal(last.meta.memory_used, true);
    t.same(
      stack.ollama.requests
        .at(-1)!
        .messages.slice(1)
        .map((m) => m.content),
      ['first', 'one', 'second'],
    );
  });

  t.test('errors before the first token are plain HTTP errors', async (t) => {
    const unknown = await postJson('/v1/chat/stream', { model: 'nope', messages: [{ role: 'user', content: 'x' }] });
    t.equal(unknown.res.status, 404);
    t.match(unknown.body, { error: { code: 'model_not_found', param: 'model' } });
    const noKey = await fetch(`${stack.baseUrl}/v1/chat/stream`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'testing', messages: [{ role: 'user', content: 'x' }] }),
    });
    t.equal(noKey.status, 401);
    t.match(await noKey.json(), { error: { code: 'invalid_api_key' } });
  });
});

t.test('POST /query', async (t) => {
  t.test('answers with the legacy JSON shape', async (t) => {
    stack.ollama.behave({ tokens: ['Looks', ' fine'], promptEvalCount: 9 });
    const { res, body } = await postJson('/query', { query: 'Review: x = 1', agent: 'code_review' });
    t.equal(res.status, 200);
    t.match(res.headers.get('content-type'), /application\/json/);
    t.same(Object.keys(body).sort(), [
      'agent',
      'cached',
      'finish_reason',
      'memory_used',
      'model',
      'processing_time',
      'request_id',
      'response',
      'session_id',
      'timestamp',
      'usage',
    ]);
    t.match(body, {
      response: 'Looks fine',
      session_id: /^conv_/,
      request_id: /^chatcmpl-/,
      agent: 'code_review',
      model: 'llama3.2',
      finish_reason: 'stop',
      cached: false,
      memory_used: false,
      processing_time: /^\d+\.\d\ds$/,
      usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 },
    });
    t.ok(!Number.isNaN(Date.parse(body.timestamp)), 'timestamp is a date');
    t.equal(res.headers.get('x-session-id'), body.session_id);
    t.equal(res.headers.get('x-request-id'), body.request_id);
    const sent = stack.ollama.requests.at(-1)!;
    t.match(sent.messages[0]!.content, REVIEWER_PROMPT, 'the agent system prompt');
    t.same(sent.messages.slice(1), [{ role: 'user', content: 'Review: x = 1' }]);
  });

  t.test('a follow-up continues the conversation, by session_id in the body or by X-Session-ID', async (t) => {
    stack.ollama.behave({ tokens: ['Paris'] });
    const first = await postJson('/query', { query: 'Capital of France?', agent: 'documentation' });
    const sessionId = first.body.session_id;

    stack.ollama.behave({ tokens: ['2M'] });
    const byBody = await postJson('/query', { query: 'Population?', agent: 'documentation', session_id: sessionId });
    t.equal(byBody.res.status, 200);
    t.equal(byBody.body.session_id, sessionId);
    t.equal(byBody.body.memory_used, true);
    t.same(stack.ollama.requests.at(-1)!.messages.slice(1), [
      { role: 'user', content: 'Capital of France?' },
      { role: 'assistant', content: 'Paris' },
      { role: 'user', content: 'Population?' },
    ]);

    stack.ollama.behave({ tokens: ['Yes'] });
    const byHeader = await postJson(
      '/query',
      { query: 'Sure?', agent: 'documentation' },
      { 'x-session-id': sessionId },
    );
    t.equal(byHeader.res.status, 200);
    t.equal(byHeader.body.session_id, sessionId);
    t.equal(byHeader.body.memory_used, true);
    t.same(
      stack.ollama.requests
        .at(-1)!
        .messages.slice(1)
        .map((m) => m.content),
      ['Capital of France?', 'Paris', 'Population?', '2M', 'Sure?'],
    );

    const both = await postJson(
      '/query',
      { query: 'Again?', agent: 'documentation', session_id: sessionId },
      { 'x-session-id': sessionId },
    );
    t.equal(both.res.status, 200, 'header and body naming the same session is fine');
    t.same(
      (await turnsOf(sessionId)).map((r) => r.user_input),
      ['Capital of France?', 'Population?', 'Sure?', 'Again?'],
    );
  });

  t.test('errors use the OpenAI error shape', async (t) => {
    const before = stack.ollama.requests.length;
    const unknown = await postJson('/query', { query: 'x', agent: 'nope' });
    t.equal(unknown.res.status, 404);
    t.match(unknown.body, {
      error: { code: 'model_not_found', type: 'invalid_request_error', message: /^The agent "nope"/, param: 'agent' },
    });
    const byModel = await postJson('/query', { query: 'x', model: 'nope' });
    t.match(byModel.body, { error: { code: 'model_not_found', param: 'model' } }, 'the field the client sent');
    const both = await postJson('/query', { query: 'x', agent: 'testing', model: 'nope' });
    t.equal(both.res.status, 400, 'agent and model that disagree: neither is dropped unseen');
    t.match(both.body, { error: { code: 'invalid_request', param: 'agent', message: /name different agents/ } });

    const noQuery = await postJson('/query', { agent: 'testing' });
    t.equal(noQuery.res.status, 400);
    t.match(noQuery.body, { error: { code: 'invalid_request', param: 'query' } });

    // Ollama's fields would be dropped here: named instead, as is a conversation sent as another route's.
    const images = await postJson('/query', { query: 'x', agent: 'testing', images: ['aGk='] });
    t.equal(images.res.status, 400);
    t.match(images.body, { error: { code: 'invalid_request', param: 'images', message: /\/api\/generate/ } });
    const prompt = await postJson('/query', { prompt: 'x', agent: 'testing' });
    t.match(prompt.body, { error: { code: 'invalid_request', param: 'prompt', message: /as query/ } });

    const streamed = await postJson('/query', { query: 'x', agent: 'testing', stream: true });
    t.equal(streamed.res.status, 400);
    t.match(streamed.body, { error: { code: 'invalid_request', param: 'stream' } });

    const noKey = await fetch(`${stack.baseUrl}/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'x', agent: 'testing' }),
    });
    t.equal(noKey.status, 401);
    t.match(await noKey.json(), { error: { code: 'invalid_api_key' } });

    const mismatch = await postJson(
      '/query',
      { query: 'x', agent: 'testing', session_id: 'conv_a' },
      { 'x-session-id': 'conv_b' },
    );
    t.equal(mismatch.res.status, 400);
    t.match(mismatch.body, { error: { code: 'invalid_request', param: 'session_id' } });

    // An unknown session is named where the client sent it: the body's field, or the header.
    const unknownBody = await postJson('/query', { query: 'x', agent: 'testing', session_id: 'conv_none' });
    t.equal(unknownBody.res.status, 404);
    t.match(unknownBody.body, { error: { code: 'session_not_found', param: 'session_id', message: /conv_none/ } });
    const unknownHeader = await postJson('/query', { query: 'x', agent: 'testing' }, { 'x-session-id': 'conv_none' });
    t.match(unknownHeader.body, { error: { code: 'session_not_found', param: 'X-Session-ID' } });
    const unknownGenerate = await postJson('/api/generate', {
      model: 'testing',
      prompt: 'x',
      stream: false,
      session_id: 'conv_none',
    });
    t.match(unknownGenerate.body, { error: { code: 'session_not_found', param: 'session_id' } });

    t.equal(stack.ollama.requests.length, before, 'none of them reached the model');

    stack.ollama.behave({ tokens: ['ok'] });
    const streamNull = await postJson('/query', { query: 'x', agent: 'testing', stream: null, store: false });
    t.equal(streamNull.res.status, 200, 'stream: null reads as left out, as on /api/generate');

    // store: false keeps nothing, as on the chat routes; with a session it is refused.
    const turnsBefore = (await stack.db.selectFrom('turns').select('id').execute()).length;
    const unstored = await postJson('/query', { query: 'x', agent: 'testing', store: false });
    t.equal(unstored.res.status, 200);
    const unstoredGenerate = await postJson('/api/generate', {
      model: 'testing',
      prompt: 'x',
      stream: false,
      store: false,
    });
    t.equal(unstoredGenerate.res.status, 200);
    t.equal((await stack.db.selectFrom('turns').select('id').execute()).length, turnsBefore, 'nothing stored');
    const storeWithSession = await postJson('/query', { query: 'x', agent: 'testing', store: false, session_id: 'c1' });
    t.match(storeWithSession.body, { error: { code: 'invalid_request', param: 'store' } });

    // No agent is not an error:: the router chooses (the rules, the classifier, then the default agent).
    const noAgent = await postJson('/query', { query: 'x' });
    t.equal(noAgent.res.status, 200);
    t.equal(noAgent.body.agent, 'documentation', 'the default agent answered');
  });
});

t.test('POST /api/generate', async (t) => {
  t.test("stream: false answers with Ollama's generate shape", async (t) => {
    stack.ollama.behave({ tokens: ['const', ' x'], promptEvalCount: 7 });
    const { res, body } = await postJson('/api/generate', {
      model: 'code_generation',
      prompt: 'declare x',
      stream: false,
    });
    t.equal(res.status, 200);
    t.match(res.headers.get('content-type'), /application\/json/);
    t.match(body, {
      model: 'code_generation',
      created_at: String,
      response: 'const x',
      done: true,
      done_reason: 'stop',
      total_duration: Number,
      load_duration: 0,
      prompt_eval_count: 7,
      eval_count: 2,
      eval_duration: Number,
      session_id: /^conv_/,
      cached: false,
      memory_used: false,
    });
    t.equal(res.headers.get('x-session-id'), body.session_id);
    t.same(stack.ollama.requests.at(-1)!.messages.slice(1), [{ role: 'user', content: 'declare x' }]);

    stack.ollama.behave({ tokens: ['let y'] });
    const next = await postJson('/api/generate', {
      model: 'code_generation',
      prompt: 'and y',
      stream: false,
      session_id: body.session_id,
    });
    t.equal(next.body.session_id, body.session_id);
    t.equal(next.body.memory_used, true);
    t.same(
      stack.ollama.requests
        .at(-1)!
        .messages.slice(1)
        .map((m) => m.content),
      ['declare x', 'const x', 'and y'],
    );
  });

  t.test('streams NDJSON by default: done:false pieces, then one done:true line', async (t) => {
    stack.ollama.behave({ tokens: ['a', 'b', 'c'] });
    const res = await post('/api/generate', { model: 'testing', prompt: 'abc' });
    t.equal(res.status, 200);
    t.match(res.headers.get('content-type'), /^application\/x-ndjson/);
    t.match(res.headers.get('x-session-id'), /^conv_/);
    const lines = ndjson(await res.text());
    const pieces = lines.slice(0, -1);
    const last = lines.at(-1);
    t.ok(
      pieces.length >= 1 &&
        pieces.every((l) => l.done === false && l.model === 'testing' && typeof l.created_at === 'string'),
    );
    t.equal(pieces.map((l) => l.response).join(''), 'abc', 'the pieces make up the answer');
    t.match(last, {
      model: 'testing',
      response: '',
      done: true,
      done_reason: 'stop',
      eval_count: 3,
      session_id: res.headers.get('x-session-id'),
      cached: false,
    });
    t.equal(lines.filter((l) => l.done === true).length, 1, 'exactly one done:true line');
  });

  t.test('system, options and format reach the model', async (t) => {
    stack.ollama.behave({ tokens: ['{}'] });
    const res = await post('/api/generate', {
      model: 'testing',
      prompt: 'json please',
      system: 'be terse',
      stream: false,
      format: 'json',
      options: { num_predict: 33, temperature: 0.2, stop: ['END'], seed: 3 },
    });
    t.equal(res.status, 200);
    const sent = stack.ollama.requests.at(-1)!;
    t.equal(sent.format, 'json', 'format: "json" reaches Ollama as format: "json"');
    t.match(sent.options, { num_predict: 33, temperature: 0.2, stop: ['END'], seed: 3 });
    t.match(sent.messages[0], { role: 'system', content: /\n\nbe terse$/ }, "joined to the agent's system prompt");
    t.same(sent.messages.slice(1), [{ role: 'user', content: 'json please' }]);

    const schema = { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'] };
    await (
      await post('/api/generate', { model: 'testing', prompt: 'schema please', stream: false, format: schema })
    ).json();
    t.same(stack.ollama.requests.at(-1)!.format, schema, 'a JSON Schema format reaches Ollama as that schema');
  });

  t.test("nulls ask for nothing, as in Ollama: the body LangChain's community Ollama class sends", async (t) => {
    stack.ollama.behave({ tokens: ['fine'] });
    const before = stack.ollama.requests.length;
    const res = await post('/api/generate', {
      prompt: 'hello',
      images: null,
      model: 'testing',
      format: null,
      options: { mirostat: null, num_ctx: null, num_predict: null, temperature: 0.3, stop: null, top_k: null },
      system: null,
      template: null,
      keep_alive: null,
      raw: null,
      stream: null,
    });
    t.equal(res.status, 200);
    t.match(res.headers.get('content-type'), /application\/x-ndjson/, 'stream: null is the default, true');
    t.equal(ndjson(await res.text()).at(-1).done, true);
    t.equal(stack.ollama.requests.length, before + 1);
    const sent = stack.ollama.requests.at(-1)!;
    t.same(sent.options, { temperature: 0.3 }, 'only the option that holds a value');
    t.same(sent.messages.slice(1), [{ role: 'user', content: 'hello' }], 'no system message of the client');
    t.equal(sent.format, undefined, 'no format');
    const valued = await postJson('/api/generate', { model: 'testing', prompt: 'x', options: { top_k: 40 } });
    t.equal(valued.res.status, 400, 'an unmapped option holding a value is still refused');
    t.match(valued.body, { error: { param: 'options.top_k' } });
  });

  t.test("think reaches Ollama as think, and the thinking comes back as Ollama's thinking", async (t) => {
    stack.ollama.behave({ thinking: ['Two and', ' two.'], tokens: ['4'] });
    const whole = await postJson('/api/generate', { model: 'testing', prompt: '2+2?', stream: false, think: true });
    t.equal(whole.res.status, 200);
    t.equal(stack.ollama.requests.at(-1)!.body['think'], true);
    t.match(whole.body, { response: '4', thinking: 'Two and two.', done: true });

    stack.ollama.behave({ thinking: ['hmm'], tokens: ['4'] });
    const streamed = ndjson(
      await (await post('/api/generate', { model: 'testing', prompt: '2+2?', think: 'low' })).text(),
    );
    t.equal(stack.ollama.requests.at(-1)!.body['think'], true, 'a level is on for a model without levels');
    t.match(streamed[0], { response: '', thinking: 'hmm', done: false }, 'the thinking first, apart from the answer');
    t.equal(streamed.map((l) => l.response).join(''), '4');

    stack.ollama.behave({ tokens: ['4'] });
    const off = await postJson('/api/generate', { model: 'testing', prompt: '2+2?', stream: false, think: false });
    t.equal(stack.ollama.requests.at(-1)!.body['think'], false, 'false turns thinking off');
    t.notOk('thinking' in off.body, 'no thinking, no field');
    // /query has no think switch, but a model that thinks anyway has its thinking apart there too.
    stack.ollama.behave({ thinking: ['Sum.'], tokens: ['4'] });
    const query = await postJson('/query', { agent: 'testing', query: '2+2?', store: false });
    t.match(query.body, { response: '4', thinking: 'Sum.' });
    stack.ollama.behave({ tokens: ['4'] });
    const unthought = await postJson('/query', { agent: 'testing', query: '2+2?', store: false });
    t.notOk('thinking' in unthought.body, 'no thinking, no field on /query either');
    const bad = await postJson('/api/generate', { model: 'testing', prompt: 'x', think: 'max' });
    t.equal(bad.res.status, 400);
    t.match(bad.body, { error: { param: 'think' } });
  });

  t.test("num_predict -1, Ollama's default, sets no cap; 0 and -2 are refused", async (t) => {
    stack.ollama.behave({ tokens: ['free'] });
    const res = await post('/api/generate', {
      model: 'testing',
      prompt: 'as long as you like',
      stream: false,
      options: { num_predict: -1, temperature: 0.2 },
    });
    t.equal(res.status, 200);
    const sent = stack.ollama.requests.at(-1)!;
    t.match(sent.options, { temperature: 0.2 });
    t.notOk('num_predict' in (sent.options ?? {}), 'no cap of the request reaches the model, as if it sent none');
    for (const num_predict of [0, -2]) {
      const refused = await postJson('/api/generate', { model: 'testing', prompt: 'x', options: { num_predict } });
      t.equal(refused.res.status, 400, `num_predict ${num_predict}`);
      t.match(refused.body, { error: { code: 'invalid_request', param: 'options.num_predict', message: /-1\b/ } });
    }
  });

  t.test('fields agentbus cannot honour, and other errors', async (t) => {
    const before = stack.ollama.requests.length;
    const unmapped = await postJson('/api/generate', {
      model: 'testing',
      prompt: 'x',
      stream: false,
      options: { num_ctx: 4096 },
    });
    t.equal(unmapped.res.status, 400, 'an Ollama option agentbus does not map is refused, not dropped');
    t.match(unmapped.body, { error: { code: 'invalid_request', param: 'options.num_ctx' } });
    const streamedQuery = await postJson('/query', { query: 'x', agent: 'testing', stream: true });
    t.match(streamedQuery.body, { error: { message: /stream with POST \/v1\/chat\/stream/ } });
    const context = await postJson('/api/generate', { model: 'testing', prompt: 'x', context: [1, 2] });
    t.equal(context.res.status, 400);
    t.match(context.body, { error: { code: 'invalid_request', param: 'context', message: /"context"/ } });
    const raw = await postJson('/api/generate', { model: 'testing', prompt: 'x', raw: true });
    t.match(raw.body, { error: { code: 'invalid_request', param: 'raw' } });
    const noPrompt = await postJson('/api/generate', { model: 'testing' });
    t.equal(noPrompt.res.status, 400);
    t.match(noPrompt.body, { error: { param: 'prompt' } });
    const unknown = await postJson('/api/generate', { model: 'llama3.2', prompt: 'x' });
    t.equal(unknown.res.status, 404, 'a backend model name is not an agent');
    t.match(unknown.body, { error: { code: 'model_not_found' } });
    const noKey = await fetch(`${stack.baseUrl}/api/generate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'testing', prompt: 'x' }),
    });
    t.equal(noKey.status, 401);
    t.equal(stack.ollama.requests.length, before, 'none of them reached the model');
  });

  t.test('a backend dying mid-stream ends with an error line and no done:true line', async (t) => {
    stack.ollama.behave({ tokens: ['partial', ' answer', ' never', ' finished'], dieAfterTokens: 2, tokenDelayMs: 20 });
    const res = await post('/api/generate', { model: 'code_review', prompt: 'go' });
    t.equal(res.status, 200, 'the stream had started');
    const lines = ndjson(await res.text());
    t.notOk(
      lines.some((l) => l.done === true),
      'no done:true: the answer must not look complete',
    );
    const last = lines.at(-1);
    t.match(last, { error: String, code: 'backend_error' });
    t.same(Object.keys(last).sort(), ['code', 'error'], "Ollama's error line, plus the code");
    t.equal(
      lines
        .slice(0, -1)
        .map((l) => l.response)
        .join(''),
      'partial answer',
    );
    t.equal((await turnsOf(res.headers.get('x-session-id')!)).length, 0, 'nothing stored');
  });

  t.test('a backend failing before the first token is a plain HTTP error', async (t) => {
    stack.ollama.behave({ failWith: { status: 500, message: 'boom' } });
    const { res, body } = await postJson('/api/generate', { model: 'testing', prompt: 'x' });
    t.equal(res.status, 502);
    t.match(body, { error: { code: 'backend_error', type: 'server_error' } });
  });
});

t.test('per-agent base URL /agents/code_review', async (t) => {
  const base = `${stack.baseUrl}/agents/code_review`;
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'local-only', maxRetries: 0 });

  t.test('health needs no key and names the agent; an unknown agent is 404', async (t) => {
    const res = await fetch(`${base}/health`);
    t.equal(res.status, 200);
    t.match(await res.json(), { status: 'healthy', agent: 'code_review', model: 'llama3.2' });
    const unknown = await fetch(`${stack.baseUrl}/agents/nope/health`);
    t.equal(unknown.status, 404);
    t.match(await unknown.json(), { error: { code: 'model_not_found', param: 'agent' } });
  });

  t.test('fetch: chat without model, a model hint, and a follow-up by X-Session-ID', async (t) => {
    stack.ollama.behave({ tokens: ['Bug', ' on', ' line', ' 1'] });
    const first = await postJson('/agents/code_review/v1/chat/completions', {
      messages: [{ role: 'user', content: 'review x = 1' }],
    });
    t.equal(first.res.status, 200);
    t.match(first.body, {
      object: 'chat.completion',
      model: 'code_review',
      meta: { agent: 'code_review' },
      choices: [{ message: { content: 'Bug on line 1' } }],
    });
    t.match(stack.ollama.requests.at(-1)!.messages[0]!.content, REVIEWER_PROMPT);

    stack.ollama.behave({ tokens: ['Fixed'] });
    const hinted = await postJson(
      '/agents/code_review/v1/chat/completions',
      { model: 'gpt-4o', messages: [{ role: 'user', content: 'and now?' }] },
      { 'x-session-id': first.body.conversation_id },
    );
    t.equal(hinted.res.status, 200);
    t.equal(hinted.body.model, 'code_review', 'the path names the agent; model is only a hint');
    t.equal(hinted.body.conversation_id, first.body.conversation_id);
    t.equal(hinted.body.meta.memory_used, true);
    const sent = stack.ollama.requests.at(-1)!;
    t.equal(sent.model, 'llama3.2');
    t.match(sent.messages[0]!.content, REVIEWER_PROMPT);
    t.same(
      sent.messages.slice(1).map((m) => m.content),
      ['review x = 1', 'Bug on line 1', 'and now?'],
    );

    // A model naming another agent is a hint too: the path wins.
    const other = await postJson('/agents/code_review/v1/chat/completions', {
      model: 'documentation',
      messages: [{ role: 'user', content: 'x' }],
    });
    t.equal(other.body.model, 'code_review');
    t.match(stack.ollama.requests.at(-1)!.messages[0]!.content, REVIEWER_PROMPT);
  });

  t.test('fetch: /v1/chat/stream, /query and /api/generate under the agent', async (t) => {
    stack.ollama.behave({ tokens: ['s1', 's2'] });
    const stream = await post('/agents/code_review/v1/chat/stream', {
      messages: [{ role: 'user', content: 'stream it' }],
    });
    t.match(stream.headers.get('content-type'), /^text\/event-stream/);
    const { events } = parseSse(await stream.text());
    t.equal(events.at(-1)!.data, '[DONE]');
    const chunks = sseJson(events);
    t.ok(chunks.every((c) => c.model === 'code_review'));
    t.equal(chunks.map((c) => c.choices[0].delta.content ?? '').join(''), 's1s2');

    const query = await postJson('/agents/code_review/query', { query: 'q' });
    t.equal(query.res.status, 200);
    t.match(query.body, { agent: 'code_review', response: 's1s2' });
    const hinted = await postJson('/agents/code_review/query', { query: 'q', agent: 'documentation' });
    t.equal(hinted.body.agent, 'code_review', 'on the per-agent /query the path wins over the body');
    const pair = await postJson('/agents/code_review/query', { query: 'q', agent: 'documentation', model: 'x' });
    t.equal(pair.res.status, 200, 'an agent and model that disagree are a hint there too, not a 400');
    t.equal(pair.body.agent, 'code_review');

    const generate = await postJson('/agents/code_review/api/generate', { prompt: 'g', stream: false });
    t.equal(generate.res.status, 200);
    t.match(generate.body, { model: 'code_review', response: 's1s2', done: true });
    t.match(stack.ollama.requests.at(-1)!.messages[0]!.content, REVIEWER_PROMPT);
  });

  t.test('openai SDK: chat with a model hint, follow-up by X-Session-ID, streaming, models', async (t) => {
    stack.ollama.behave({ tokens: ['SDK', ' review'] });
    const { data: completion, response } = await client.chat.completions
      .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'look at this' }] })
      .withResponse();
    t.equal(completion.model, 'code_review');
    t.equal(completion.choices[0]!.message.content, 'SDK review');
    t.match(stack.ollama.requests.at(-1)!.messages[0]!.content, REVIEWER_PROMPT);
    const sessionId = response.headers.get('x-session-id')!;
    t.match(sessionId, /^conv_/);

    stack.ollama.behave({ tokens: ['Still', ' fine'] });
    const followUp = await client.chat.completions.create(
      { model: 'gpt-4o', messages: [{ role: 'user', content: 'and this?' }] },
      { headers: { 'X-Session-ID': sessionId } },
    );
    t.equal(followUp.choices[0]!.message.content, 'Still fine');
    t.equal((followUp as any).conversation_id, sessionId);
    t.equal((followUp as any).meta.memory_used, true);
    t.same(
      stack.ollama.requests
        .at(-1)!
        .messages.slice(1)
        .map((m) => m.content),
      ['look at this', 'SDK review', 'and this?'],
    );

    stack.ollama.behave({ tokens: ['str', 'eam'] });
    const stream = await client.chat.completions.create(
      { model: 'gpt-4o', messages: [{ role: 'user', content: 'stream' }], stream: true },
      { headers: { 'X-Session-ID': sessionId } },
    );
    let text = '';
    let finish: string | null = null;
    const models = new Set<string>();
    for await (const chunk of stream) {
      models.add(chunk.model);
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    t.equal(text, 'stream');
    t.equal(finish, 'stop');
    t.same([...models], ['code_review']);
    t.same(
      stack.ollama.requests
        .at(-1)!
        .messages.slice(1)
        .map((m) => m.content),
      ['look at this', 'SDK review', 'and this?', 'Still fine', 'stream'],
    );

    // The stream helper is a strict checker of the chunk sequence.
    const final = await client.chat.completions
      .stream({ model: 'gpt-4o', messages: [{ role: 'user', content: 'again' }] })
      .finalChatCompletion();
    t.equal(final.choices[0]!.message.content, 'stream');

    const list = await client.models.list();
    t.same(
      list.data.map((m) => m.id),
      ['code_review'],
      'only this agent',
    );
    const one = await client.models.retrieve('code_review');
    t.equal(one.id, 'code_review');
    const other = await client.models.retrieve('documentation').then(
      () => undefined,
      (err: unknown) => err,
    );
    t.ok(other instanceof OpenAI.NotFoundError, 'another agent is not served under this base URL');
    const elsewhere = await fetch(`${base}/v1/models/documentation`, { headers: AUTH });
    t.equal(elsewhere.status, 404);
    t.match(
      await elsewhere.json(),
      {
        error: {
          code: 'model_not_found',
          param: 'model',
          message:
            'The model "documentation" is not served under /agents/code_review/. Models of this base URL: code_review.',
        },
      },
      'the 404 lists what this base URL serves, not agents that are 404 here too',
    );
  });

  t.test('no key → 401, from fetch and from the SDK', async (t) => {
    const res = await fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'x' }] }),
    });
    t.equal(res.status, 401);
    t.match(await res.json(), { error: { code: 'invalid_api_key' } });
    const models = await fetch(`${base}/v1/models`);
    t.equal(models.status, 401);
    const wrongKey = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'wrong', maxRetries: 0 });
    const rejected = await wrongKey.chat.completions
      .create({ model: 'x', messages: [{ role: 'user', content: 'x' }] })
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    t.ok(rejected instanceof OpenAI.AuthenticationError, 'the SDK raises AuthenticationError (401)');
    t.match(rejected, { status: 401, code: 'invalid_api_key' });
  });
});
