import t from 'tap';
import { AgentbusError } from '../../bus-schemas/index.js';
import { createRedactor } from '../../common/redaction.js';
import { createProviderChains } from '../../workers/providers/chain.js';
import { explainStop } from '../../workers/providers/llama-cpp/deadline-hint.js';
import type { ChatHistoryItem, ChatWrapper, Tokenizer } from '../../workers/providers/llama-cpp/load-module.js';
import { countPromptTokens } from '../../workers/providers/llama-cpp/prompt-tokens.js';
import { toGenerateOptions } from '../../workers/providers/llama-cpp/request.js';
import type { ProviderChatRequest } from '../../workers/providers/types.js';
import { agentWith, answers, FakeProvider, recordingLogger } from '../helpers/fake-provider.js';

// The llama-cpp provider's own logic, without node-llama-cpp: the default max_tokens, the
// deadline message, the prompt count, and the model an answer names.

const request = (options: ProviderChatRequest['options'] = {}): ProviderChatRequest => ({
  model: 'tiny',
  messages: [{ role: 'user', content: 'hi' }],
  options,
  signal: new AbortController().signal,
});

t.test('a request without max_tokens gets LLAMA_CPP_MAX_TOKENS; its own max_tokens wins; 0 is no cap', async (t) => {
  t.equal(toGenerateOptions(request(), 512).maxTokens, 512);
  t.equal(toGenerateOptions(request({ max_tokens: 24 }), 512).maxTokens, 24);
  t.equal(toGenerateOptions(request({ max_tokens: 2000 }), 512).maxTokens, 2000, 'a cap is no ceiling');
  t.notOk('maxTokens' in toGenerateOptions(request(), 0));
});

t.test("a request's seed is passed on; without one each request draws its own", async (t) => {
  t.equal(toGenerateOptions(request({ seed: 7 }), 512).seed, 7);
  const drawn = new Set(Array.from({ length: 20 }, () => toGenerateOptions(request(), 512).seed));
  t.ok(drawn.size > 1, 'not the clock second node-llama-cpp would use for all of them');
  for (const seed of drawn) t.ok(Number.isInteger(seed) && seed! >= 0 && seed! < 2 ** 32);
});

const deadline = new AgentbusError(
  'deadline_exceeded',
  'The model did not finish within the request timeout of 1500 ms (REQUEST_TIMEOUT_MS); the worker abandoned it.',
);

t.test('a generation still running at the deadline says which max_tokens to set', async (t) => {
  const capped = explainStop(deadline, { generated: 40, requested: undefined, defaultMaxTokens: 100_000 });
  t.ok(capped instanceof AgentbusError);
  const error = capped as AgentbusError;
  t.equal(error.code, 'deadline_exceeded', 'the same stop: 504, retryable as before');
  t.equal(error.retryable, deadline.retryable);
  t.match(error.message, /^The model did not finish within .*REQUEST_TIMEOUT_MS.*abandoned it\. /);
  t.match(error.message, /still writing after 40 tokens/);
  t.match(error.message, /send max_tokens or lower LLAMA_CPP_MAX_TOKENS \(now 100000\)\.$/);
  t.equal(error.cause, deadline);
  const own = explainStop(deadline, { generated: 40, requested: 5000, defaultMaxTokens: 512 }) as Error;
  t.match(own.message, /send a smaller max_tokens than 5000\.$/);
  const uncapped = explainStop(deadline, { generated: 40, requested: undefined, defaultMaxTokens: 0 }) as Error;
  t.match(uncapped.message, /send max_tokens or set LLAMA_CPP_MAX_TOKENS\.$/);
});

t.test('other stops, or a deadline before the first token, keep their own error', async (t) => {
  const stopped = { generated: 40, requested: undefined, defaultMaxTokens: 512 };
  t.equal(explainStop(deadline, { ...stopped, generated: 0 }), deadline, 'max_tokens would not have helped');
  const cancel = new AgentbusError('request_cancelled', 'Cancelled by the requester');
  t.equal(explainStop(cancel, stopped), cancel);
  const plain = new Error('aborted');
  t.equal(explainStop(plain, stopped), plain);
});

t.test('the prompt is counted as the chat wrapper renders it, with the model turn opened', async (t) => {
  const seen: ChatHistoryItem[][] = [];
  // A chat wrapper that renders each item as a word or two; the tokenizer splits on spaces.
  const wrapper: ChatWrapper = {
    generateContextState({ chatHistory, availableFunctions }) {
      seen.push(chatHistory);
      const functions = Object.keys(availableFunctions ?? {}).map((name) => `FUNCTION: ${name}`);
      const rendered = chatHistory.map((item) =>
        item.type === 'model'
          ? `MODEL: ${item.response.filter((part) => typeof part === 'string').join('')}`
          : `USER: ${item.text}`,
      );
      const text = [...functions, ...rendered].join(' ').trim();
      return { contextText: { tokenize: (tokenizer: Tokenizer) => tokenizer(text) } };
    },
  };
  const tokenizer: Tokenizer = (text) => text.split(' ');
  const history: ChatHistoryItem[] = [{ type: 'user', text: 'tell me a story' }];
  t.equal(countPromptTokens(wrapper, tokenizer, history), 6, 'USER: tell me a story MODEL:');
  t.equal(countPromptTokens(wrapper, tokenizer, history), 6, 'the same prompt, the same count');
  t.same(seen[0], [...history, { type: 'model', response: [] }]);
  t.same(history, [{ type: 'user', text: 'tell me a story' }], "the caller's history is left alone");
  const functions = { get_weather: { params: { type: 'object' } } };
  t.equal(countPromptTokens(wrapper, tokenizer, history, functions), 8, "the functions' documentation counts");
});

t.test("a provider bound to one model file names it as the answer's model", async (t) => {
  const { log } = recordingLogger();
  const llama = Object.assign(new FakeProvider('llama-cpp'), { servedModel: 'stories260K.gguf' });
  llama.behave = answers('Once');
  const ollama = new FakeProvider('ollama');
  const chains = createProviderChains(
    {
      createProvider: (name) => (name === 'llama-cpp' ? llama : ollama),
      defaultProvider: 'ollama',
      localProviders: ['ollama', 'llama-cpp'],
      breakers: { failures: 3, cooldownMs: 30_000 },
      redactor: createRedactor({ patterns: [] }),
    },
    log,
  );
  const ask = { messages: request().messages, options: {}, signal: new AbortController().signal, private: false };
  const fromFile = await chains.open(agentWith('tiny', [{ provider: 'llama-cpp', model: 'stories260K' }]), ask, log);
  t.equal(fromFile.model, 'stories260K.gguf', 'not the model the agent names');
  t.equal(llama.calls[0]?.model, 'stories260K', 'the request still carries the named model');
  const fromServer = await chains.open(agentWith('chat', [{ provider: 'ollama', model: 'llama3.2' }]), ask, log);
  t.equal(fromServer.model, 'llama3.2', "a model server answers with the link's model");
});
