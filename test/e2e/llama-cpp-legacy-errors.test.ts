import t from 'tap';
import { AUTH, startStack } from '../helpers/stack.js';
import { TEST_GGUF } from '../helpers/test-model.js';

// The legacy routes take one text, not messages: the errors a llama-cpp worker raises about the
// chat request they become name what the client sent (`prompt`, `query`, `format`).
const MODEL = TEST_GGUF;

const stack = await startStack({
  env: {
    PROVIDER: 'llama-cpp',
    LLAMA_CPP_MODEL_PATH: MODEL,
    LLAMA_CPP_CONTEXT_SIZE: '512',
    LLAMA_CPP_MAX_TOKENS: '8',
    DEFAULT_MODEL: 'stories260K',
    BACKEND_PROBE_INTERVAL_MS: '600000',
  },
});
t.teardown(() => stack.close());

const post = async (path: string, body: Record<string, unknown>) => {
  const res = await fetch(`${stack.baseUrl}${path}`, { method: 'POST', headers: AUTH, body: JSON.stringify(body) });
  return { status: res.status, body: await res.text() };
};
const error = (text: string) => (JSON.parse(text) as { error: Record<string, unknown> }).error;
const LONG = 'word '.repeat(600);

t.test('/api/generate: a prompt the context cannot hold names prompt, not messages', async (t) => {
  for (const stream of [false, true]) {
    const res = await post('/api/generate', { model: 'testing', prompt: LONG, system: 'Be brief.', stream });
    t.equal(res.status, 400, `stream: ${stream}`);
    t.match(error(res.body), {
      code: 'context_length_exceeded',
      param: 'prompt',
      message: /: send a shorter prompt, or start a new conversation\.$/,
    });
  }
  const cap = await post('/api/generate', {
    model: 'testing',
    prompt: 'hi',
    stream: false,
    options: { num_predict: 1e6 },
  });
  t.equal(cap.status, 400);
  t.match(error(cap.body), {
    param: 'prompt',
    message: /\d+ in the prompt, 1000000 in the completion\).*: shorten the prompt or reduce options\.num_predict\.$/,
  });
});

t.test('/api/generate: a format schema llama.cpp cannot hold names format', async (t) => {
  const res = await post('/api/generate', { model: 'testing', prompt: 'x', stream: false, format: { type: 'foo' } });
  t.equal(res.status, 400);
  t.match(error(res.body), { code: 'invalid_request', param: 'format', message: /to format's schema/ });
});

t.test('/api/generate: images llama.cpp cannot see name images, not the prompt', async (t) => {
  const res = await post('/api/generate', { model: 'testing', prompt: 'x', stream: false, images: ['aGVsbG8='] });
  t.equal(res.status, 400);
  t.match(error(res.body), { code: 'invalid_request', param: 'images', message: /takes text only/ });
});

t.test('/api/generate: think, which llama.cpp cannot honour, is refused naming think', async (t) => {
  const res = await post('/api/generate', { model: 'testing', prompt: 'x', stream: false, think: true });
  t.equal(res.status, 400);
  const refused = error(res.body);
  t.match(refused, { code: 'invalid_request', param: 'think' });
  const message = String(refused['message']);
  t.notMatch(message, /reasoning[ _](effort|content)/, "in the words of the field the client sent, not chat's");
  t.match(message, /: leave think out\./, 'says what to do with think');
});

t.test('/query: a query the context cannot hold names query', async (t) => {
  const res = await post('/query', { agent: 'testing', query: LONG });
  t.equal(res.status, 400);
  t.match(error(res.body), {
    code: 'context_length_exceeded',
    param: 'query',
    message: /: send a shorter query, or start a new conversation\.$/,
  });
});
