import { APIError } from 'openai';
import t from 'tap';
import { AgentbusError } from '../../bus-schemas/index.js';
import { isBackendOutage } from '../../workers/providers/breakers.js';
import { forcedToolCall } from '../../workers/providers/forced-tool-call.js';
import { llamaCppError } from '../../workers/providers/llama-cpp/errors.js';
import { ollamaRequestError } from '../../workers/providers/ollama/errors.js';
import { openAIError } from '../../workers/providers/openai/errors.js';
import { openAIAudioError } from '../../workers/audio/openai/errors.js';

// What a provider's failure becomes: a request refused as sent is the client's (4xx, no retry,
// not counted by the breaker), so one client's requests cannot shut a provider for every key.

const caught = (fn: () => unknown): AgentbusError => {
  try {
    fn();
  } catch (err) {
    if (err instanceof AgentbusError) return err;
    throw err;
  }
  throw new Error('did not throw');
};

t.test('llama.cpp: a conversation too long for the context is the request, not the backend', async (t) => {
  for (const message of [
    'Failed to compress chat history for context shift due to a too long prompt or system message',
    'The context size is too small to generate a response',
  ]) {
    const error = llamaCppError(new Error(message), 'tiny.gguf', 512);
    t.match(error, { code: 'context_length_exceeded', status: 400, retryable: false, param: 'messages' });
    t.match(error.message, /context of 512 tokens of tiny\.gguf \(LLAMA_CPP_CONTEXT_SIZE\)/);
    t.notOk(isBackendOutage(error), 'not counted against the provider');
  }
  const crash = llamaCppError(new Error('vk::DeviceLostError'), 'tiny.gguf', 512);
  t.match(crash, { code: 'backend_error', retryable: true });
  t.ok(isBackendOutage(crash));
});

t.test('an OpenAI-compatible server refusing the request as sent: 4xx, not an outage', async (t) => {
  const tooLong = openAIError(
    APIError.generate(
      400,
      { error: { code: 'context_length_exceeded', message: 'maximum context length is 8192' } },
      undefined,
      new Headers(),
    ),
    'http://up',
    'gpt',
  );
  t.match(tooLong, { code: 'context_length_exceeded', status: 400, param: 'messages' });
  t.notOk(isBackendOutage(tooLong));
  for (const status of [400, 413, 422]) {
    const refused = openAIError(
      APIError.generate(status, { error: { message: 'bad field', param: 'temperature' } }, undefined, new Headers()),
      'http://up',
      'gpt',
    );
    t.match(refused, { code: 'invalid_request', status: 400, param: 'temperature' }, `HTTP ${status}`);
    t.match(refused.message, new RegExp(`refused the request \\(HTTP ${status}\\)`));
    t.notOk(isBackendOutage(refused));
  }
  for (const status of [429, 500, 503]) {
    const failing = openAIError(
      APIError.generate(status, { error: { message: 'busy' } }, undefined, new Headers()),
      'http://up',
      'gpt',
    );
    t.match(failing, { code: 'backend_error', retryable: true }, `HTTP ${status}`);
  }
});

t.test("an OpenAI-compatible server refusing the worker's key: a setting to fix, not an outage", async (t) => {
  for (const status of [401, 403]) {
    const refused = openAIError(
      APIError.generate(status, { error: { message: 'Incorrect API key provided' } }, undefined, new Headers()),
      'http://up/v1',
      'gpt',
    );
    t.match(refused, { code: 'backend_auth_failed', status: 502, retryable: false }, `HTTP ${status}`);
    t.match(refused.message, /http:\/\/up\/v1 \(OPENAI_BASE_URL\) refused the key \(HTTP 40[13]\): set OPENAI_API_KEY/);
    // OpenAI's own text quotes the key's ends ("sk-proj-****…abcd"): for the worker's log, not every client.
    t.notMatch(refused.message, /Incorrect API key/, "the server's words stay out of what the client reads");
    t.notOk(isBackendOutage(refused));
  }
  const audio = openAIAudioError(
    APIError.generate(401, { error: { message: 'bad key' } }, undefined, new Headers()),
    'http://audio/v1',
    'tts-1',
  );
  t.match(audio, { code: 'backend_auth_failed', retryable: false, message: /set OPENAI_AUDIO_API_KEY/ });
});

t.test('Ollama refusing the request as sent (HTTP 400) is the request', async (t) => {
  const refused = ollamaRequestError(Object.assign(new Error('invalid format'), { status_code: 400 }), 'http://o', 'm');
  t.match(refused, { code: 'invalid_request', status: 400 });
  t.notOk(isBackendOutage(refused));
  const failing = ollamaRequestError(Object.assign(new Error('oops'), { status_code: 500 }), 'http://o', 'm');
  t.match(failing, { code: 'backend_error', retryable: true });
});

t.test("a forced tool call not matching its schema is the request's 400; a cut one is OpenAI's 200", async (t) => {
  const tools = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object' } } }];
  const one = forcedToolCall(tools, 'required')!;
  t.same(one.answer('{"city": "Os', true), {
    call: { name: 'get_weather', arguments: '{"city": "Os' },
    finishReason: 'length',
  });
  // Held to the schema, output that is not the call means nothing could match it: no retry helps.
  t.match(
    caught(() => one.answer('{"city": "Os', false)),
    { code: 'invalid_request', param: 'tools', retryable: false },
  );
  t.same(
    one.answer('{"city":"Oslo"}', true),
    { call: { name: 'get_weather', arguments: '{"city":"Oslo"}' }, finishReason: 'tool_calls' },
    'whole when the limit came: a call',
  );
  const two = forcedToolCall([...tools, { type: 'function', function: { name: 'get_time' } }], 'required')!;
  t.same(two.answer('{"name": "get_', true), { call: undefined, finishReason: 'length' }, 'no name yet: no call');
});
