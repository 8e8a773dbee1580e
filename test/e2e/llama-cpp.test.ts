import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { createLlamaCppProvider } from '../../workers/providers/llama-cpp/index.js';
import { HOW_TO_INSTALL_LLAMA_CPP } from '../../workers/providers/llama-cpp/load-module.js';
import { llamaCppInstalled } from '../../scripts/lib/install-llama-cpp.js';
import { parseSse, sseJson } from '../helpers/sse.js';
import { AUTH, startStack } from '../helpers/stack.js';
import { sleep, waitUntil } from '../helpers/wait.js';

// A real inference engine end to end: gateway → NATS → worker → llama.cpp (node-llama-cpp, in
// process) → SSE, on the real tiny model from ../shared/models. The model writes childish
// story prose: the assertions are about structure (tokens arrive, counts, stop reasons,
// cancellation), never about wording.
const MODEL =
  process.env['AGENTBUS_TEST_GGUF'] ??
  fileURLToPath(new URL('../../../shared/models/stories260K.gguf', import.meta.url));
if (!existsSync(MODEL))
  throw new Error(`the test model is missing: no ${MODEL} (set AGENTBUS_TEST_GGUF to a GGUF file)`);
if (!llamaCppInstalled()) throw new Error(`node-llama-cpp is not installed. ${HOW_TO_INSTALL_LLAMA_CPP}`);

const provider = createLlamaCppProvider({ modelPath: MODEL, threads: 1, parallel: 2, contextSize: 512 });
const stack = await startStack({ provider, env: { DEFAULT_MODEL: 'stories260K' } });
t.teardown(() => stack.close());
const post = (body: Record<string, unknown>, signal?: AbortSignal) =>
  fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({ model: 'documentation', ...body }),
    ...(signal ? { signal } : {}),
  });
const turns = async () =>
  await stack.db.selectFrom('turns').select(['request_id', 'assistant_response', 'completion_tokens']).execute();

t.test(
  'a streamed answer comes token by token from llama.cpp, ends at max_tokens with finish_reason "length"',
  async (t) => {
    const res = await post({
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 24,
      temperature: 0.8,
      seed: 42,
      messages: [{ role: 'user', content: 'Tell me a story about a cat.' }],
    });
    t.equal(res.status, 200);
    const { events } = parseSse(await res.text());
    t.equal(events.at(-1)!.data, '[DONE]');
    const chunks = sseJson(events);
    const pieces = chunks
      .map((c) => c.choices[0]?.delta.content)
      .filter((c): c is string => typeof c === 'string' && c.length > 0);
    t.ok(pieces.length >= 5, `${pieces.length} content chunks streamed`);
    const final = chunks.at(-2);
    t.equal(final.choices[0].finish_reason, 'length');
    const usage = chunks.at(-1).usage;
    t.equal(usage.completion_tokens, 24, 'as many tokens as max_tokens');
    t.ok(usage.prompt_tokens > 0, 'prompt tokens counted');
    const row = (await turns()).find((r) => r.request_id === final.id);
    t.equal(row?.assistant_response, pieces.join(''), 'the streamed text is the stored turn');
    t.equal(row?.completion_tokens, 24);
  },
);

t.test('the same seed gives the same answer; a continued conversation feeds the history to the model', async (t) => {
  const ask = async (headers: Record<string, string> = {}) => {
    const res = await fetch(`${stack.baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...AUTH, ...headers },
      body: JSON.stringify({
        model: 'documentation',
        max_tokens: 16,
        temperature: 0.7,
        seed: 7,
        messages: [{ role: 'user', content: 'Once upon a time' }],
      }),
    });
    t.equal(res.status, 200);
    return res.json();
  };
  const first = await ask();
  const second = await ask();
  t.equal(second.choices[0].message.content, first.choices[0].message.content, 'deterministic with a seed');
  const continued = await ask({ 'x-session-id': first.conversation_id });
  t.equal(continued.meta.memory_used, true);
  t.ok(
    continued.usage.prompt_tokens > first.usage.prompt_tokens,
    `the prompt grew with the history (${first.usage.prompt_tokens} → ${continued.usage.prompt_tokens} tokens)`,
  );
});

t.test('a client leaving stops the generation; nothing is stored', async (t) => {
  const before = (await turns()).length;
  const abort = new AbortController();
  const res = await post(
    { stream: true, max_tokens: 4000, messages: [{ role: 'user', content: 'A very long story, please.' }] },
    abort.signal,
  );
  const reader = res.body!.getReader();
  await reader.read();
  await reader.read();
  abort.abort();
  t.ok(
    await waitUntil(() => stack.logs.lines.some((l) => l['code'] === 'request_cancelled'), 2000),
    'the worker stopped the generation',
  );
  await sleep(100);
  t.equal((await turns()).length, before);
  // The engine is free again.
  const after = await post({ max_tokens: 4, messages: [{ role: 'user', content: 'Hi' }] });
  t.equal(after.status, 200);
});

t.test('what llama-cpp cannot honour is a 400 naming it, not silently dropped', async (t) => {
  const tools = [{ type: 'function', function: { name: 'get_time', parameters: { type: 'object' } } }];
  const res = await post({ tools, messages: [{ role: 'user', content: 'time?' }] });
  t.equal(res.status, 400);
  t.match(await res.json(), {
    error: { code: 'invalid_request', param: 'tools', message: /llama-cpp provider does not support tools/ },
  });
  const penalty = await post({ presence_penalty: 1, messages: [{ role: 'user', content: 'hi' }] });
  t.equal(penalty.status, 400);
  t.match(await penalty.json(), { error: { param: 'presence_penalty' } });
});

t.test('without a model file the provider says which setting to fix', async (t) => {
  const unset = createLlamaCppProvider({ modelPath: undefined, threads: 1, parallel: 1, contextSize: 512 });
  t.match(await unset.probe([]), { reachable: false, error: /LLAMA_CPP_MODEL_PATH/ });
  const missing = createLlamaCppProvider({
    modelPath: '/nonexistent/model.gguf',
    threads: 1,
    parallel: 1,
    contextSize: 512,
  });
  t.match(await missing.probe([]), { reachable: false, error: /No GGUF model file at \/nonexistent\/model.gguf/ });
});
