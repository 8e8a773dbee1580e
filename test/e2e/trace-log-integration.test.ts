import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { startStack } from '../helpers/stack.js';
import { parseSse, sseJson } from '../helpers/sse.js';
import { traceLine as traceLineIn, traceLinesOf } from '../helpers/trace-lines.js';

// A key distinctive enough that finding it anywhere in a log means it leaked.
const KEY = 'sk-trace-secret-5b1f0c7e9a2d';
const stack = await startStack({ env: { API_KEYS: KEY, TRACE_PROMPT_MAX_CHARS: '40' } });
t.teardown(() => stack.close());

const logDir = stack.config.logDir;
const HEADERS = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };
const FIELDS = [
  'ts',
  'trace_id',
  'request_id',
  'session',
  'agent',
  'model',
  'prompt',
  'response_len',
  'cached',
  'status',
  'duration_ms',
];
const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${stack.baseUrl}${path}`, { method: 'POST', headers: { ...HEADERS, ...headers }, body: JSON.stringify(body) });
const linesOf = (agent: string) => traceLinesOf(logDir, agent);
const traceLine = (agent: string, requestId: string) => traceLineIn(logDir, agent, requestId);

t.test('a chat request appends one line with every field to <LOG_DIR>/<agent>.log', async (t) => {
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const traceparent = `00-${traceId}-00f067aa0ba902b7-01`;
  stack.ollama.behave({ tokens: ['Use', ' blue', '/green.'] });
  const started = Date.now();
  const res = await post(
    '/v1/chat/completions',
    {
      model: 'deployment',
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'an earlier question' },
        { role: 'assistant', content: 'an earlier answer' },
        { role: 'user', content: 'How do I roll out safely?' },
      ],
    },
    { traceparent },
  );
  const answeredAt = Date.now();
  t.equal(res.status, 200);
  t.equal(res.headers.get('traceparent'), traceparent, 'the trace context is echoed');
  const body: any = await res.json();

  const line = await traceLine('deployment', body.id);
  t.same(Object.keys(line), FIELDS, 'exactly the documented keys, in order (no error on success)');
  t.match(line, {
    trace_id: traceId,
    request_id: body.id,
    session: body.conversation_id,
    agent: 'deployment',
    model: 'llama3.2',
    prompt: 'How do I roll out safely?',
    response_len: 'Use blue/green.'.length,
    cached: false,
    status: 200,
  });
  const ts = Date.parse(line.ts);
  t.ok(ts >= started && ts <= answeredAt, 'ts is when the request arrived: after it was sent, before its answer');
  t.ok(Number.isInteger(line.duration_ms) && line.duration_ms >= 0);
  t.equal(linesOf('deployment').length, 1, 'one line for one request');
});

t.test('a streamed answer is logged too, with its length; a follow-up keeps the session', async (t) => {
  stack.ollama.behave({ tokens: ['ab', 'cd', 'e'] });
  const res = await post('/v1/chat/completions', {
    model: 'testing',
    stream: true,
    messages: [{ role: 'user', content: 'stream me' }],
  });
  const chunks = sseJson(parseSse(await res.text()).events);
  const first = await traceLine('testing', chunks[0].id);
  t.match(first, { status: 200, response_len: 5, session: res.headers.get('x-session-id'), prompt: 'stream me' });
  t.match(first.trace_id, /^[0-9a-f]{32}$/, 'a trace id is made up when the client sends none');
  t.equal(res.headers.get('traceparent')?.split('-')[1], first.trace_id, 'the same one the response carries');

  stack.ollama.behave({ tokens: ['again'] });
  const next = await post(
    '/v1/chat/completions',
    { model: 'testing', messages: [{ role: 'user', content: 'follow-up' }] },
    { 'x-session-id': first.session },
  );
  const nextBody: any = await next.json();
  t.match(await traceLine('testing', nextBody.id), { session: first.session, prompt: 'follow-up', response_len: 5 });
});

t.test('a backend failure writes status 502 and error backend_error', async (t) => {
  stack.ollama.behave({ failWith: { status: 500, message: 'boom' } });
  const res = await post('/v1/chat/completions', {
    model: 'documentation',
    messages: [{ role: 'user', content: 'this will fail' }],
  });
  t.equal(res.status, 502);
  t.match(await res.json(), { error: { code: 'backend_error' } });
  const requestId = res.headers.get('x-request-id');
  t.match(requestId, /^chatcmpl-/, 'the error response names the request');
  const line = await traceLine('documentation', requestId!);
  t.match(line, {
    status: 502,
    error: 'backend_error',
    response_len: 0,
    cached: false,
    prompt: 'this will fail',
    agent: 'documentation',
  });
  t.same(Object.keys(line), [...FIELDS.slice(0, -1), 'error', 'duration_ms']);
});

t.test('legacy routes write lines too: /query, /api/generate and a per-agent URL', async (t) => {
  stack.ollama.behave({ tokens: ['Looks', ' good'] });
  const query = await post('/query', { query: 'review this diff', agent: 'code_review' });
  const queryBody: any = await query.json();
  t.equal(query.status, 200);
  t.match(await traceLine('code_review', queryBody.request_id), {
    status: 200,
    session: queryBody.session_id,
    prompt: 'review this diff',
    response_len: 'Looks good'.length,
    agent: 'code_review',
  });

  const generate = await post('/api/generate', { model: 'code_review', prompt: 'generate it' });
  await generate.text();
  t.match(await traceLine('code_review', generate.headers.get('x-request-id')!), {
    status: 200,
    prompt: 'generate it',
    response_len: 'Looks good'.length,
  });

  const scoped = await post('/agents/code_review/v1/chat/completions', {
    model: 'gpt-4o',
    messages: [{ role: 'user', content: 'scoped' }],
  });
  const scopedBody: any = await scoped.json();
  t.match(await traceLine('code_review', scopedBody.id), { agent: 'code_review', prompt: 'scoped', status: 200 });
});

t.test('prompts are cut to TRACE_PROMPT_MAX_CHARS', async (t) => {
  stack.ollama.behave({ tokens: ['ok'] });
  const prompt = 'x'.repeat(100);
  const res = await post('/v1/chat/completions', {
    model: 'voice_processor',
    messages: [{ role: 'user', content: prompt }],
  });
  const body: any = await res.json();
  t.equal((await traceLine('voice_processor', body.id)).prompt, `${'x'.repeat(40)}…`);
});

t.test('the API key appears in no trace file and no log line; the logger gets msg "trace"', async (t) => {
  stack.ollama.behave({ tokens: ['fine'] });
  const res = await post('/v1/chat/completions', {
    model: 'bengali_nlp',
    messages: [{ role: 'user', content: 'hello' }],
  });
  const body: any = await res.json();
  await traceLine('bengali_nlp', body.id);

  const files = readdirSync(logDir);
  t.ok(files.length >= 5, `trace files: ${files.join(', ')}`);
  for (const name of files) {
    const text = readFileSync(join(logDir, name), 'utf8');
    t.notOk(text.includes(KEY), `${name} does not contain the key`);
    t.notOk(/authorization|bearer/i.test(text), `${name} has no Authorization header`);
  }
  const logged = JSON.stringify(stack.logs.lines);
  t.notOk(logged.includes(KEY), 'the pino logs do not contain the key');
  t.notOk(/bearer/i.test(logged), 'nor a Bearer header');

  const traces = stack.logs.lines.filter((line) => line['msg'] === 'trace');
  const mine = traces.find((line) => (line['trace'] as any)?.request_id === body.id);
  t.ok(mine, 'the trace event went to the logger');
  t.match(mine, {
    level: 30,
    component: 'trace',
    trace: { agent: 'bengali_nlp', status: 200, session: body.conversation_id, prompt: 'hello', response_len: 4 },
  });
  t.same(mine!['trace'], await traceLine('bengali_nlp', body.id), 'the logger gets the same line as the file');
});
