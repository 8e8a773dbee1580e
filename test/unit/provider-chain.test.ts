import t from 'tap';
import { AgentbusError } from '../../bus-schemas/index.js';
import { createRedactor } from '../../common/redaction.js';
import { createProviderChains, type ChainRequest } from '../../workers/providers/chain.js';
import type { ProviderName } from '../../workers/providers/index.js';
import { FakeClock } from '../helpers/fake-clock.js';
import {
  agentWith,
  answers,
  collect,
  fails,
  failsAfter,
  FakeProvider,
  heldOpen,
  recordingLogger,
  saysNothing,
} from '../helpers/fake-provider.js';

// Provider chains against fake providers behind our ChatProvider seam, breakers on a fake clock.
// ollama and llama-cpp are local (LOCAL_PROVIDERS); openai is not.
const BREAKERS = { failures: 3, cooldownMs: 30_000 };
const OLLAMA = { provider: 'ollama', model: 'llama3.2' } as const;
const LLAMA = { provider: 'llama-cpp', model: 'tiny' } as const;
const OPENAI = { provider: 'openai', model: 'gpt-test' } as const;
const chained = agentWith('chained', [OLLAMA, OPENAI]);
const cloudFirst = agentWith('cloud_first', [OPENAI, OLLAMA]);
const cloudOnly = agentWith('cloud_only', [OPENAI]);
const localOnly = agentWith('local_only');

function setup() {
  const clock = new FakeClock();
  const { log, lines } = recordingLogger();
  const fakes = {
    ollama: new FakeProvider('ollama'),
    'llama-cpp': new FakeProvider('llama-cpp'),
    openai: new FakeProvider('openai'),
  };
  const made: ProviderName[] = [];
  const chains = createProviderChains(
    {
      createProvider: (name) => {
        made.push(name);
        return fakes[name];
      },
      defaultProvider: 'ollama',
      localProviders: ['ollama', 'llama-cpp'],
      breakers: BREAKERS,
      redactor: createRedactor({ patterns: [{ name: 'openai_key', regex: 'sk-[A-Za-z0-9]{8,}' }] }),
      clock,
    },
    log,
  );
  return { clock, lines, fakes, made, chains, log };
}

const ask = (content = 'hi', extra: Partial<ChainRequest> = {}): ChainRequest => ({
  messages: [{ role: 'user', content }],
  options: {},
  signal: new AbortController().signal,
  private: false,
  ...extra,
});
const contentOf = async (events: AsyncIterable<{ type: string; content?: string }>) =>
  (await collect(events))
    .filter((e) => e.type === 'delta')
    .map((e) => e.content)
    .join('');

t.test('the first provider answers: its events, its model, no fallback steps', async (t) => {
  const { chains, fakes, made, log } = setup();
  fakes.ollama.behave = answers('Hello', ' there');
  const opened = await chains.open(chained, ask(), log);
  t.same(
    { provider: opened.provider, model: opened.model, fallback: opened.fallback },
    { provider: 'ollama', model: 'llama3.2', fallback: [] },
  );
  t.equal(await contentOf(opened.events), 'Hello there', 'the first event is replayed, then the rest');
  t.equal(fakes.ollama.calls[0]?.model, 'llama3.2', "the link's model is asked for");
  t.equal(fakes.openai.calls.length, 0);

  await chains.open(chained, ask(), log);
  t.same(made, ['ollama'], 'one instance per provider name, made on first use');
});

t.test("an agent without a chain uses PROVIDER with the agent's model", async (t) => {
  const { chains, fakes, log } = setup();
  t.same(chains.linksOf(localOnly), [{ provider: 'ollama', model: 'agent-model' }]);
  const opened = await chains.open(localOnly, ask(), log);
  t.equal(opened.model, 'agent-model');
  t.equal(fakes.ollama.calls[0]?.model, 'agent-model');
});

t.test('a provider failing before its first event hands the request on, with the step recorded', async (t) => {
  const { chains, fakes, lines, log } = setup();
  for (const [code, behave] of [
    ['backend_error', fails('backend_error')],
    ['backend_unreachable', fails('backend_unreachable')],
    ['backend_model_not_found', fails('backend_model_not_found')],
    ['backend_error', saysNothing()],
  ] as const) {
    fakes.ollama.behave = behave;
    const opened = await chains.open(chained, ask(), log);
    t.equal(opened.provider, 'openai', `${code}: openai answers`);
    t.equal(opened.model, 'gpt-test');
    t.same(opened.fallback, [{ kind: 'provider', from: 'ollama', to: 'openai', reason: code }]);
    t.equal(await contentOf(opened.events), 'hello');
    fakes.ollama.behave = answers('ok');
    await chains.open(chained, ask(), log); // a success, so the breaker never opens here
  }
  t.match(
    lines.find((line) => line['from'] === 'ollama'),
    { level: 40, to: 'openai', reason: 'backend_error', msg: /ollama did not answer \(backend_error\); trying openai/ },
    'each fallback is logged at warn',
  );
  t.match(
    await chains.open(chained, ask(), log).catch((err: unknown) => err),
    { provider: 'ollama' },
    'healthy again: the first provider answers',
  );
});

t.test('an error that is not the backend being unwell is the caller’s, not the next provider’s', async (t) => {
  const { chains, fakes, log } = setup();
  fakes.ollama.behave = fails('invalid_request', 'this backend cannot honour response_format');
  await t.rejects(chains.open(chained, ask(), log), { code: 'invalid_request', message: /response_format/ });
  t.equal(fakes.openai.calls.length, 0);
});

t.test('after the first event nothing switches: the error reaches the caller mid-answer', async (t) => {
  const { chains, fakes, log } = setup();
  fakes.ollama.behave = failsAfter(['partial'], 'backend_error');
  const opened = await chains.open(chained, ask(), log);
  t.equal(opened.provider, 'ollama');
  const seen: string[] = [];
  await t.rejects(
    (async () => {
      for await (const event of opened.events) if (event.type === 'delta') seen.push(event.content);
    })(),
    { code: 'backend_error', message: /mid-answer/ },
  );
  t.same(seen, ['partial']);
  t.equal(fakes.openai.calls.length, 0, 'the next provider is never called');
});

t.test("an upstream refusing the worker's key: the next provider answers, the breaker stays closed", async (t) => {
  const { chains, fakes, log } = setup();
  fakes.openai.behave = fails('backend_auth_failed', 'refused the key: set OPENAI_API_KEY');
  for (let i = 0; i <= BREAKERS.failures; i++) {
    const opened = await chains.open(cloudFirst, ask(), log);
    t.equal(opened.provider, 'ollama');
    t.same(opened.fallback, [{ kind: 'provider', from: 'openai', to: 'ollama', reason: 'backend_auth_failed' }]);
  }
  t.equal(fakes.openai.calls.length, BREAKERS.failures + 1, 'a configuration error does not open the circuit');
  await t.rejects(chains.open(cloudOnly, ask(), log), { code: 'backend_auth_failed', retryable: false });
});

t.test("an upstream's rate limit or empty account: the next provider answers, the breaker stays closed", async (t) => {
  const { chains, fakes, log } = setup();
  const limited = (retryAfterMs: number) =>
    // eslint-disable-next-line require-yield -- fails before its first event
    async function* () {
      throw new AgentbusError('backend_rate_limited', 'upstream busy', { retryAfterMs });
    };
  fakes.openai.behave = limited(7000);
  for (let i = 0; i <= BREAKERS.failures; i++) {
    const opened = await chains.open(cloudFirst, ask(), log);
    t.same(opened.fallback, [{ kind: 'provider', from: 'openai', to: 'ollama', reason: 'backend_rate_limited' }]);
  }
  t.equal(fakes.openai.calls.length, BREAKERS.failures + 1, '429s do not open the circuit');
  await t.rejects(chains.open(cloudOnly, ask(), log), { code: 'backend_rate_limited', retryAfterMs: 7000 });

  // Every link busy, each saying when: still the upstreams' 429 (the gateway goes to the fallback, not the same
  // agent; the client gets 429), naming each, with the soonest wait.
  fakes.ollama.behave = limited(3000);
  const allBusy = await chains.open(cloudFirst, ask(), log).catch((e: unknown) => e);
  t.match(allBusy, {
    code: 'backend_rate_limited',
    retryAfterMs: 3000,
    message: /openai: backend_rate_limited: upstream busy; ollama: backend_rate_limited: upstream busy/,
  });
  fakes.ollama.behave = fails('backend_error', 'crashed');
  const oneDown = await chains.open(cloudFirst, ask(), log).catch((e: unknown) => e);
  t.match(oneDown, { code: 'no_provider_available', retryAfterMs: undefined }, 'one failed otherwise: no estimate');

  fakes.ollama.behave = answers('local');
  fakes.openai.behave = fails('backend_quota_exceeded', 'no quota left');
  t.equal((await chains.open(cloudFirst, ask(), log)).provider, 'ollama', 'an empty account moves on too');
  await t.rejects(chains.open(cloudOnly, ask(), log), { code: 'backend_quota_exceeded', retryable: false });
});

t.test("a chain stopped only by its upstreams' 429s ends with a 429 error, whatever else was skipped", async (t) => {
  const { chains, fakes, clock, log } = setup();
  const three = agentWith('three', [OPENAI, OLLAMA, LLAMA]);
  const limited = (retryAfterMs: number | undefined) =>
    // eslint-disable-next-line require-yield -- fails before its first event
    async function* () {
      throw new AgentbusError('backend_rate_limited', 'upstream busy', { retryAfterMs });
    };
  // llama-cpp's circuit opens, to reopen in 30 s.
  fakes['llama-cpp'].behave = fails('backend_error', 'out of memory');
  for (let i = 0; i < BREAKERS.failures; i++) await t.rejects(chains.open(agentWith('l', [LLAMA]), ask(), log));
  fakes.openai.behave = limited(7000);
  fakes.ollama.behave = limited(40_000);
  t.match(await chains.open(three, ask(), log).catch((e: unknown) => e), {
    code: 'backend_rate_limited',
    retryable: true,
    retryAfterMs: 7000,
    message: /llama-cpp: circuit open/,
  });
  await clock.advance(25_000);
  t.match(
    await chains.open(three, ask(), log).catch((e: unknown) => e),
    {
      code: 'backend_rate_limited',
      retryAfterMs: 5000,
    },
    'the circuit reopens sooner than either upstream',
  );

  // An empty account with a rate limit: waiting brings the rate-limited one back, so that one's wait.
  fakes.ollama.behave = fails('backend_quota_exceeded', 'no quota left');
  t.match(await chains.open(three, ask(), log).catch((e: unknown) => e), {
    code: 'backend_rate_limited',
    retryAfterMs: 5000,
  });
  fakes.openai.behave = limited(undefined);
  t.match(
    await chains.open(three, ask(), log).catch((e: unknown) => e),
    {
      code: 'backend_rate_limited',
      retryAfterMs: undefined,
    },
    'an upstream that said not how long: no estimate',
  );
  // Only empty accounts: no wait helps (not retryable; the gateway asks the fallback agent).
  fakes.openai.behave = fails('backend_quota_exceeded', 'no quota left');
  t.match(await chains.open(three, ask(), log).catch((e: unknown) => e), {
    code: 'backend_quota_exceeded',
    retryable: false,
    retryAfterMs: undefined,
  });
  // Anything else among the failures: the chain's own 503.
  fakes.ollama.behave = fails('backend_unreachable', 'down');
  t.match(await chains.open(three, ask(), log).catch((e: unknown) => e), { code: 'no_provider_available' });
  fakes.ollama.behave = limited(1000);
  fakes.openai.behave = fails('backend_error', 'crashed');
  t.match(await chains.open(three, ask(), log).catch((e: unknown) => e), {
    code: 'no_provider_available',
    retryAfterMs: undefined,
  });
});

t.test('every provider failing: no_provider_available naming each and why', async (t) => {
  const { chains, fakes, log } = setup();
  fakes.ollama.behave = fails('backend_error', 'ollama is sad');
  fakes.openai.behave = fails('backend_unreachable', 'upstream down');
  const err = await chains.open(chained, ask(), log).catch((e: unknown) => e);
  t.match(err, { code: 'no_provider_available', retryable: true });
  t.equal(
    (err as Error).message,
    'No provider of agent "chained" can take the request now. ' +
      'ollama: backend_error: ollama is sad; openai: backend_unreachable: upstream down.',
  );
});

t.test("a one-provider chain keeps its provider's own error", async (t) => {
  const { chains, fakes, log } = setup();
  const own = new AgentbusError('backend_unreachable', 'Ollama at OLLAMA_URL is not answering');
  // eslint-disable-next-line require-yield -- fails before its first event
  fakes.ollama.behave = async function* () {
    throw own;
  };
  await t.rejects(chains.open(localOnly, ask(), log), own);
});

t.test('an open circuit skips its provider without a call, then a trial decides', async (t) => {
  const { chains, fakes, clock, log } = setup();
  fakes.ollama.behave = fails('backend_error', 'out of memory');
  for (let i = 0; i < BREAKERS.failures; i++) await chains.open(chained, ask(), log);
  t.equal(fakes.ollama.calls.length, 3);

  const open = await chains.open(chained, ask(), log);
  t.equal(open.provider, 'openai');
  t.same(open.fallback, [{ kind: 'provider', from: 'ollama', to: 'openai', reason: 'circuit_open' }]);
  t.equal(fakes.ollama.calls.length, 3, 'no call while open');

  // Alone in its chain, the request gets the error that opened the circuit, saying it was not tried.
  const alone = await chains.open(localOnly, ask(), log).catch((e: unknown) => e);
  t.match(alone, { code: 'backend_error' });
  t.equal(
    (alone as Error).message,
    'out of memory (ollama: circuit open for another 30 s after 3 consecutive failures, the last backend_error ' +
      '(BREAKER_FAILURES, BREAKER_COOLDOWN_MS); not tried this time.)',
  );
  t.equal((alone as AgentbusError).retryAfterMs, BREAKERS.cooldownMs, 'a retry can succeed once the circuit reopens');
  t.equal(fakes.ollama.calls.length, 3, 'the breaker is shared by every agent of the worker');

  await clock.advance(BREAKERS.cooldownMs);
  const failedTrial = await chains.open(chained, ask(), log);
  t.same(failedTrial.fallback, [{ kind: 'provider', from: 'ollama', to: 'openai', reason: 'backend_error' }]);
  t.equal(fakes.ollama.calls.length, 4, 'one trial call');
  t.same((await chains.open(chained, ask(), log)).fallback[0]?.reason, 'circuit_open', 'the failed trial re-opened it');

  fakes.ollama.behave = answers('back');
  await clock.advance(BREAKERS.cooldownMs);
  t.equal((await chains.open(chained, ask(), log)).provider, 'ollama', 'a successful trial closes it');
  t.equal((await chains.open(localOnly, ask(), log)).provider, 'ollama', 'closed for every agent');
  t.equal(fakes.ollama.calls.length, 6);
});

t.test('every circuit of a chain open: the error says when the first one lets a trial through', async (t) => {
  const { chains, fakes, clock, log } = setup();
  fakes.ollama.behave = fails('backend_error', 'out of memory');
  fakes.openai.behave = fails('backend_error', 'overloaded');
  for (let i = 0; i < BREAKERS.failures; i++) await t.rejects(chains.open(cloudOnly, ask(), log));
  await clock.advance(10_000);
  for (let i = 0; i < BREAKERS.failures; i++) await t.rejects(chains.open(localOnly, ask(), log));
  const bothOpen = await chains.open(chained, ask(), log).catch((e: unknown) => e);
  t.match(bothOpen, { code: 'no_provider_available', retryAfterMs: BREAKERS.cooldownMs - 10_000 });
  t.match((bothOpen as AgentbusError).toWire(), { retry_after_ms: BREAKERS.cooldownMs - 10_000 });

  await clock.advance(BREAKERS.cooldownMs - 10_000);
  const oneTried = await chains.open(chained, ask(), log).catch((e: unknown) => e);
  t.match(oneTried, { code: 'no_provider_available', message: /openai: backend_error/ });
  t.equal((oneTried as AgentbusError).retryAfterMs, undefined, 'a provider was tried and failed: no estimate');
});

t.test('while the trial runs, other requests skip the provider', async (t) => {
  const { chains, fakes, clock, log } = setup();
  fakes.ollama.behave = fails('backend_error');
  for (let i = 0; i < BREAKERS.failures; i++) await chains.open(chained, ask(), log);
  await clock.advance(BREAKERS.cooldownMs);
  const held = heldOpen(['recovered']);
  fakes.ollama.behave = held.behave;
  const trial = chains.open(chained, ask(), log);
  const other = await chains.open(chained, ask(), log);
  t.equal(other.provider, 'openai');
  t.equal(other.fallback[0]?.reason, 'circuit_open');
  t.equal(fakes.ollama.calls.length, 4, 'only the trial reached ollama');
  held.release();
  t.equal((await trial).provider, 'ollama');
});

t.test('a private request only reaches local providers', async (t) => {
  const { chains, fakes, log } = setup();
  const opened = await chains.open(cloudFirst, ask('private question', { private: true }), log);
  t.equal(opened.provider, 'ollama');
  t.same(opened.fallback, [{ kind: 'provider', from: 'openai', to: 'ollama', reason: 'not_local' }]);
  t.equal(fakes.openai.calls.length, 0, 'openai never called');

  const refused = await chains.open(cloudOnly, ask('private question', { private: true }), log).catch((e) => e);
  t.match(refused, { code: 'no_local_provider', retryable: false, status: 503 });
  t.match(refused.message, /agent "cloud_only" may take this private request\. openai: not local/);
  t.match(refused.message, /LOCAL_PROVIDERS/);

  fakes.ollama.behave = fails('backend_error', 'ollama is sad');
  const failed = await chains.open(cloudFirst, ask('private question', { private: true }), log).catch((e) => e);
  t.match(failed, { code: 'no_provider_available', retryable: true });
  t.match(failed.message, /openai: not local and the request is private; ollama: backend_error: ollama is sad\./);
  t.match(failed.message, /only providers named in the worker's LOCAL_PROVIDERS may take it/);
  t.equal(fakes.openai.calls.length, 0, 'openai was never called for any private request');

  const local = await chains.open(agentWith('two_local', [OLLAMA, LLAMA]), ask('x', { private: true }), log);
  t.same(local.fallback, [{ kind: 'provider', from: 'ollama', to: 'llama-cpp', reason: 'backend_error' }]);
});

t.test('secrets are masked for a non-local provider and reach a local one as written', async (t) => {
  const { chains, fakes, log } = setup();
  const question = 'why does sk-abcdefgh1234 not work?';
  await chains.open(cloudOnly, ask(question), log);
  t.equal(fakes.openai.calls[0]?.messages[0]?.content, 'why does [REDACTED:openai_key] not work?');
  await chains.open(localOnly, ask(question), log);
  t.equal(fakes.ollama.calls[0]?.messages[0]?.content, question);
});

t.test('an abort mid-call stops the chain there and does not count against the provider', async (t) => {
  const { chains, fakes, log } = setup();
  for (let i = 0; i < BREAKERS.failures + 1; i++) {
    fakes.ollama.behave = heldOpen().behave;
    const request = new AbortController();
    const pending = chains.open(chained, ask('hi', { signal: request.signal }), log);
    request.abort(new AgentbusError('request_cancelled', 'Cancelled by the requester: test'));
    await t.rejects(pending, { code: 'backend_unreachable', message: 'fake call aborted' });
  }
  t.equal(fakes.openai.calls.length, 0, 'no fallback for a request that was aborted');
  fakes.ollama.behave = answers('fine');
  t.equal((await chains.open(chained, ask(), log)).provider, 'ollama', 'four aborts did not open the circuit');
});

t.test('a consumer that stops reading early closes the provider’s answer', async (t) => {
  const { chains, fakes, log } = setup();
  fakes.ollama.behave = answers('one', 'two', 'three');
  const opened = await chains.open(chained, ask(), log);
  for await (const event of opened.events) if (event.type === 'delta') break;
  t.equal(fakes.ollama.closed, 1, "the provider's stream was returned");
});
