import t from 'tap';
import { AgentbusError } from '../../bus-schemas/index.js';
import {
  completionToChatInput,
  inCompletionTerms,
  inPromptTerms,
} from '../../gateway/openai/completion-to-chat-input.js';
import { fitToContext } from '../../workers/providers/llama-cpp/context-fit.js';
import { llamaCppError } from '../../workers/providers/llama-cpp/errors.js';
import { toGenerateOptions } from '../../workers/providers/llama-cpp/request.js';
import type { ProviderChatRequest } from '../../workers/providers/types.js';

const LIMITS = {
  maxMessages: 10,
  maxMessageChars: 100,
  maxJsonDepth: 32,
  maxTools: 4,
  maxToolSchemaBytes: 1000,
  maxInputChars: 100_000,
};

const error = (body: Record<string, unknown>, stream = false) => {
  try {
    completionToChatInput({ model: 'testing', ...body } as never, stream, LIMITS);
  } catch (err) {
    if (err instanceof AgentbusError) return err;
    throw err;
  }
  return undefined;
};
const refusal = (body: Record<string, unknown>) => {
  const err = error(body);
  return err && { code: err.code, param: err.param };
};

t.test('a prompt becomes the one user message; sampling maps as on the chat route', async (t) => {
  const input = completionToChatInput(
    { model: 'testing', prompt: ['Once upon'], max_tokens: 5, stop: 'END', temperature: 0, seed: 3, user: 'u' },
    true,
    LIMITS,
  );
  t.same(input, {
    model: 'testing',
    messages: [{ role: 'user', content: 'Once upon' }],
    options: { max_tokens: 5, stop: ['END'], temperature: 0, seed: 3 },
    user: 'u',
    stream: true,
    idPrefix: 'cmpl-',
  });
});

t.test('what cannot be honoured is refused by name', async (t) => {
  t.same(refusal({ prompt: 'x', suffix: 'end' }), { code: 'invalid_request', param: 'suffix' });
  t.same(refusal({ prompt: 'x', echo: true }), { code: 'invalid_request', param: 'echo' });
  t.same(refusal({ prompt: 'x', best_of: 2 }), { code: 'invalid_request', param: 'best_of' });
  t.same(refusal({ prompt: 'x', logprobs: 2 }), { code: 'invalid_request', param: 'logprobs' });
  t.same(refusal({ prompt: 'x', logprobs: 0 }), { code: 'invalid_request', param: 'logprobs' }, 'chosen tokens only');
  t.same(refusal({ prompt: 'x', n: 2 }), { code: 'invalid_request', param: 'n' });
  t.same(refusal({ prompt: ['a', 'b'] }), { code: 'invalid_request', param: 'prompt' }, 'several prompts');
  t.same(refusal({ prompt: [[1, 2, 3]] }), { code: 'invalid_request', param: 'prompt' }, 'token prompts');
  t.same(refusal({ prompt: [] }), { code: 'invalid_request', param: 'prompt' }, 'no prompt');
  t.equal(
    refusal({ prompt: 'x', suffix: '', echo: false, best_of: 1, logprobs: null }),
    undefined,
    'no-op values pass',
  );
  t.same(refusal({ prompt: 'y'.repeat(101) }), { code: 'message_too_long', param: 'prompt' }, 'input limits apply');
});

t.test('errors about the chat message the prompt became name the prompt', async (t) => {
  const restated = (param: string, message: string) =>
    inCompletionTerms(new AgentbusError('context_length_exceeded', message, { param })) as AgentbusError;
  t.match(restated('messages', 'The messages and max_tokens need 300 tokens.'), {
    param: 'prompt',
    message: 'The messages and max_tokens need 300 tokens.',
  });
  t.match(restated('messages[0].content', 'messages[0].content is too long'), {
    param: 'prompt',
    message: 'prompt is too long',
  });
  const other = new AgentbusError('invalid_request', 'max_tokens must be at least 1', { param: 'max_tokens' });
  t.equal(inCompletionTerms(other), other, 'left as it is when it names no message');
});

t.test("the legacy routes' errors name their own fields: query, prompt after a system, format", async (t) => {
  const tooLong = new AgentbusError(
    'context_length_exceeded',
    'You requested 900 tokens (100 in the messages, 800 in the completion), and the context of m.gguf holds ' +
      '512 tokens (LLAMA_CPP_CONTEXT_SIZE): reduce the messages or max_tokens.',
    { param: 'messages' },
  );
  t.match(inPromptTerms(tooLong, { text: 'query' }), {
    param: 'query',
    message: /\(100 in the query, 800 in the completion\).*: shorten the query or reduce max_tokens\.$/,
  });
  const generate = {
    text: 'prompt',
    userIndex: 1,
    maxTokens: 'options.num_predict',
    responseFormat: 'format',
  } as const;
  t.match(inPromptTerms(tooLong, generate), {
    param: 'prompt',
    message: /: shorten the prompt or reduce options\.num_predict\.$/,
  });
  // After the body's own `system`, the prompt is the second message: the first is the system.
  const second = new AgentbusError('message_too_long', 'messages[1].content is too long', {
    param: 'messages[1].content',
  });
  t.match(inPromptTerms(second, generate), { param: 'prompt', message: 'prompt is too long' });
  const first = new AgentbusError('message_too_long', 'messages[0] is too long', { param: 'messages[0]' });
  t.equal(inPromptTerms(first, generate), first, 'the system message is not the prompt');
  const schema = new AgentbusError(
    'invalid_request',
    'The llama-cpp provider cannot hold the model to response_format\'s schema: the type "foo" (at type).',
    { param: 'response_format' },
  );
  t.match(inPromptTerms(schema, generate), { param: 'format', message: /to format's schema/ });
  t.equal(inPromptTerms(schema, { text: 'query' }), schema, 'a route without format leaves it');
  const images = new AgentbusError(
    'invalid_request',
    'The llama-cpp provider takes text only, and a message holds images: send them to an agent on a vision model.',
    { param: 'messages' },
  );
  t.match(inPromptTerms(images, { ...generate, images: 'images' }), { param: 'images' }, 'sent apart from the prompt');
  t.match(inPromptTerms(images, generate), { param: 'prompt' }, 'a body without images names the prompt');
  const deadline = new AgentbusError(
    'deadline_exceeded',
    'The model did not finish within the request timeout of 300 ms; the worker abandoned it. llama.cpp was still ' +
      'writing after 226 tokens, without stopping on its own: send a smaller max_tokens than 1800.',
  );
  t.match(inPromptTerms(deadline, generate), {
    param: null,
    message: /send a smaller options\.num_predict than 1800\.$/,
  });
  t.equal(inPromptTerms(deadline, { text: 'query' }), deadline, '/query takes max_tokens itself');
});

t.test("/api/generate: llama-cpp's refusal of think is said in think's words, not chat's", async (t) => {
  const request = { messages: [], options: { reasoning_effort: 'medium' } } as unknown as ProviderChatRequest;
  let refused: unknown;
  try {
    toGenerateOptions(request, 0);
  } catch (err) {
    refused = err;
  }
  const said = inPromptTerms(refused, { text: 'prompt', reasoningEffort: 'think' }) as AgentbusError;
  t.match(said, { code: 'invalid_request', param: 'think', message: /: leave think out\./ });
  t.notMatch(said.message, /reasoning[ _](effort|content)/, 'no chat field or chat wording');
});

t.test('a context too small for the prompt advises a shorter prompt, not fewer messages', async (t) => {
  const tooLong = (fit: Partial<Parameters<typeof fitToContext>[0]>) => {
    try {
      fitToContext({
        promptTokens: 50,
        requested: undefined,
        maxTokens: undefined,
        contextSize: 100,
        setting: 100,
        file: 'm.gguf',
        ...fit,
      });
    } catch (err) {
      return err as AgentbusError;
    }
    throw new Error('expected context_length_exceeded');
  };
  const full = tooLong({ promptTokens: 120 });
  t.match(full.message, /send fewer or shorter messages/, "chat's wording as the worker says it");
  t.match(inCompletionTerms(full), {
    code: 'context_length_exceeded',
    param: 'prompt',
    message: /: send a shorter prompt, or start a new conversation\.$/,
  });
  t.notMatch((inCompletionTerms(full) as AgentbusError).message, /messages/);
  const withAnswer = inCompletionTerms(tooLong({ requested: 80 })) as AgentbusError;
  t.match(
    withAnswer.message,
    /\(50 in the prompt, 80 in the completion\).*: shorten the prompt or reduce max_tokens\.$/,
  );
  const compressed = inCompletionTerms(llamaCppError(new Error('context size is too small'), 'm.gguf', 100));
  t.match(compressed, { param: 'prompt', message: /\. Send a shorter prompt, or start a new conversation\.$/ });
});

t.test('prompts given as token ids are refused as such, not counted as several prompts', async (t) => {
  const tokenPrompts = [
    [1, 2, 3],
    [
      [1, 2],
      [3, 4],
    ],
    [[1, 2, 3]],
    [7],
  ];
  for (const prompt of tokenPrompts) {
    t.match(
      error({ prompt }),
      { code: 'invalid_request', param: 'prompt', message: /^Prompts given as token ids are not supported/ },
      JSON.stringify(prompt),
    );
  }
  t.match(error({ prompt: ['a', 'b'] }), { param: 'prompt', message: /holds 2 prompts/ }, 'two text prompts');
  t.match(error({ prompt: [{}] }), { param: 'prompt', message: /must be a string, or an array of one string/ });
});

t.test("stream_options without stream is refused with OpenAI's message", async (t) => {
  t.match(error({ prompt: 'x', stream_options: { include_usage: true } }), {
    code: 'invalid_request',
    param: 'stream_options',
    message: "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
  });
  t.equal(error({ prompt: 'x', stream_options: { include_usage: true } }, true), undefined, 'streamed: allowed');
  t.equal(error({ prompt: 'x', stream_options: null }), undefined, 'null counts as not sent');
});

t.test('store: false keeps the turn out of memory, as on the chat route; true is the default', async (t) => {
  const input = (store: boolean) => completionToChatInput({ model: 'testing', prompt: 'x', store }, false, LIMITS);
  t.equal(input(false).store, false);
  t.equal(input(true).store, undefined);
});
