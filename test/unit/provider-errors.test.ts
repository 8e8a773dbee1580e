import { APIError } from 'openai';
import t from 'tap';
import { AgentbusError } from '../../bus-schemas/index.js';
import { isBackendOutage } from '../../workers/providers/breakers.js';
import { forcedToolCall } from '../../workers/providers/forced-tool-call.js';
import { llamaCppError } from '../../workers/providers/llama-cpp/errors.js';
import { ollamaRequestError } from '../../workers/providers/ollama/errors.js';
import { openAIError } from '../../workers/providers/openai/errors.js';
import { upstreamRetryAfterMs } from '../../workers/providers/openai/rate-limit.js';
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
  for (const status of [500, 503]) {
    const failing = openAIError(
      APIError.generate(status, { error: { message: 'busy' } }, undefined, new Headers()),
      'http://up',
      'gpt',
    );
    t.match(failing, { code: 'backend_error', retryable: true }, `HTTP ${status}`);
  }
});

const upstream429 = (body: object, headers: Record<string, string> = {}) =>
  APIError.generate(429, { error: body }, undefined, new Headers(headers));

t.test("an upstream's rate limit: a 429 with its Retry-After, not an outage", async (t) => {
  const limited = openAIError(
    upstream429({ message: 'Rate limit reached', code: 'rate_limit_exceeded' }, { 'retry-after': '7' }),
    'http://up/v1',
    'gpt',
  );
  t.match(limited, { code: 'backend_rate_limited', status: 429, type: 'requests', retryable: true });
  t.equal(limited.retryAfterMs, 7000, "the upstream's wait travels on");
  t.match(limited.message, /http:\/\/up\/v1 is rate limiting the worker's key \(HTTP 429; it asks to wait 7 s\)/);
  t.notOk(isBackendOutage(limited), 'not counted by the breaker');
  t.same(limited.toWire().retry_after_ms, 7000, 'on the bus');

  const ms = openAIError(upstream429({ message: 'slow down' }, { 'retry-after-ms': '1500' }), 'http://up', 'gpt');
  t.equal(ms.retryAfterMs, 1500, 'retry-after-ms comes first');
  const long = openAIError(upstream429({ message: 'daily' }, { 'retry-after': '86400' }), 'http://up', 'gpt');
  t.equal(long.retryAfterMs, 60_000, 'a day-long wait is capped at a minute');
  const none = openAIError(upstream429({ message: 'busy' }), 'http://up', 'gpt');
  t.match(none, { code: 'backend_rate_limited', retryAfterMs: undefined });

  const audio = openAIAudioError(upstream429({ message: 'busy' }, { 'retry-after': '3' }), 'http://audio/v1', 'tts-1');
  t.match(audio, { code: 'backend_rate_limited', retryAfterMs: 3000, message: /OPENAI_AUDIO_BASE_URL/ });
  const ollama = ollamaRequestError(Object.assign(new Error('too many'), { status_code: 429 }), 'http://o', 'm');
  t.match(ollama, { code: 'backend_rate_limited', status: 429 });
  t.notOk(isBackendOutage(ollama));
});

t.test('an HTTP-date Retry-After counts from now; a past one says nothing', async (t) => {
  const now = Date.parse('2026-12-07T08:00:00Z');
  const headers = (value: string) => new Headers({ 'retry-after': value });
  t.equal(upstreamRetryAfterMs(headers('Mon, 07 Dec 2026 08:00:09 GMT'), now), 9000);
  t.equal(upstreamRetryAfterMs(headers('Mon, 07 Dec 2026 07:59:00 GMT'), now), undefined);
  t.equal(upstreamRetryAfterMs(headers('soon'), now), undefined);
  t.equal(upstreamRetryAfterMs(headers('0'), now), undefined);
  t.equal(upstreamRetryAfterMs(headers('0.2'), now), 200);
});

t.test("an upstream account without quota: OpenAI's 429, never retried, not an outage", async (t) => {
  for (const body of [
    { message: 'You exceeded your current quota', type: 'insufficient_quota', code: 'insufficient_quota' },
    { message: 'You exceeded your current quota', type: 'insufficient_quota', code: null },
    { message: 'Project spend limit reached', type: 'insufficient_quota', code: 'project_spend_limit_exceeded' },
  ]) {
    const quota = openAIError(upstream429(body, { 'retry-after': '20' }), 'http://up/v1', 'gpt');
    t.match(quota, { code: 'backend_quota_exceeded', status: 429, type: 'insufficient_quota', retryable: false });
    t.equal(quota.retryAfterMs, undefined, 'no wait brings the quota back');
    t.match(quota.message, /no quota left .*set OPENAI_API_KEY/);
    t.notOk(isBackendOutage(quota));
  }
  const audio = openAIAudioError(upstream429({ message: 'quota', type: 'insufficient_quota' }), 'http://a', 'tts-1');
  t.match(audio, { code: 'backend_quota_exceeded', message: /OPENAI_AUDIO_API_KEY/ });
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
