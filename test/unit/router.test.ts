import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { isChatRequest } from '../../bus-schemas/index.js';
import { loadCatalog } from '../../common/catalog.js';
import { createLogger } from '../../common/logger.js';
import { classifierEnvelope, createClassifier, type ClassifierDeps } from '../../gateway/router/classifier.js';
import { agentNamedIn, classifierMessages, MAX_CLASSIFIED_CHARS } from '../../gateway/router/classifier-prompt.js';
import { createRoutingTable, DEFAULT_ROUTING_FILE, loadRoutingTable } from '../../gateway/router/load-routing-table.js';
import { MAX_ROUTED_CHARS, routeByRules } from '../../gateway/router/match-rules.js';
import type { Classify } from '../../gateway/router/classifier.js';
import { createRouter } from '../../gateway/router/router.js';
import type { RoutingTableFile } from '../../gateway/router/routing-table.schema.js';
import { matchCodeBlock } from '../../gateway/router/text-conditions.js';
import { LogSink } from '../helpers/stack.js';

const catalog = loadCatalog();
const table = loadRoutingTable(DEFAULT_ROUTING_FILE, catalog);
const shipped = JSON.parse(readFileSync(DEFAULT_ROUTING_FILE, 'utf8')) as RoutingTableFile;
const dir = mkdtempSync(join(tmpdir(), 'agentbus-routing-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const write = (name: string, content: unknown) => {
  const file = join(dir, name);
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
};

t.test('the shipped table loads against the shipped catalog, rules in their documented order', async (t) => {
  t.same(
    table.rules.map((rule) => rule.name),
    ['bengali', 'voice', 'code_review', 'testing', 'deployment', 'documentation', 'code_block', 'code_generation'],
  );
  t.equal(table.defaultAgent, 'documentation');
  t.same(table.classifier, { agent: 'documentation', timeoutMs: 1500, enabled: true, system: false });
  t.match(table.source, /config\/routing\.json \(ROUTING_FILE\)$/);
});

t.test('each shipped rule routes realistic prompts, and says why', async (t) => {
  const cases: Array<[string, string[], string, RegExp]> = [
    ['আমি বাংলায় কথা বলি', ['bengali_nlp'], 'bengali', /^\d+ Bengali characters$/],
    ['Translate "good morning" into Bangla, please', ['bengali_nlp'], 'bengali', /^keyword "bangla"$/],
    ['What does this mean: আপনি কেমন আছেন? Reply in English.', ['bengali_nlp'], 'bengali', /Bengali characters/],
    ['Convert this paragraph to speech with natural pauses', ['voice_processor'], 'voice', /^keyword "to speech"$/],
    ['Add SSML tags so the TTS engine reads the date properly', ['voice_processor'], 'voice', /^keyword "(ssml|tts)"$/],
    [
      'Clean up this meeting transcript: uh so um we should ship',
      ['voice_processor'],
      'voice',
      /^keyword "transcript"$/,
    ],
    [
      'Which voice settings sound most natural for an audiobook?',
      ['voice_processor'],
      'voice',
      /^regex matched "voice"$/,
    ],
    ['Can you review my pull request description and diff?', ['code_review'], 'code_review', /^keyword "review"$/],
    [
      'Please audit this login handler for security issues',
      ['code_review'],
      'code_review',
      /^keyword "(audit|security issues)"$/,
    ],
    [
      "What's wrong with this code? It loops forever.",
      ['code_review'],
      'code_review',
      /^regex matched "what's wrong with this code"$/,
    ],
    ['Help me find bugs in my parser', ['code_review'], 'code_review', /^keyword "find bugs"$/],
    ['How do I raise pytest coverage above 90%?', ['testing'], 'testing', /^keyword "(pytest|coverage)"$/],
    ['Write test cases for the checkout flow, including edge cases', ['testing'], 'testing', /^keyword "test cases"$/],
    ['My Jest mocks leak between tests', ['testing'], 'testing', /^keyword "(jest|mocks)"$/],
    ['Add some tests for the date parser', ['testing'], 'testing', /^regex matched "add some tests"$/],
    ['Write a test for add()', ['testing'], 'testing', /^regex matched "write a test"$/],
    [
      'How do I deploy this app to Kubernetes with Helm?',
      ['deployment'],
      'deployment',
      /^keyword "(deploy|kubernetes|helm)"$/,
    ],
    [
      'Set up a CI/CD pipeline on GitHub Actions',
      ['deployment'],
      'deployment',
      /^keyword "(ci\/cd|pipeline|github actions)"$/,
    ],
    [
      'Write a systemd unit and an nginx reverse proxy for my API',
      ['deployment'],
      'deployment',
      /^keyword "(systemd|nginx|reverse proxy)"$/,
    ],
    ['Terraform the S3 bucket and the k8s namespace', ['deployment'], 'deployment', /^keyword "(terraform|k8s)"$/],
    ['Write a README for my CLI tool', ['documentation'], 'documentation', /^keyword "readme"$/],
    ['Add docstrings to every public method', ['documentation'], 'documentation', /^keyword "docstrings"$/],
    [
      'Draft an API reference for the /v1/chat endpoint',
      ['documentation'],
      'documentation',
      /^keyword "api reference"$/,
    ],
    [
      'Please document this module for new contributors',
      ['documentation'],
      'documentation',
      /^regex matched "document this"$/,
    ],
    [
      '```python\nprint(sum(range(10)))\n```',
      ['code_generation', 'code_review'],
      'code_block',
      /^contains a fenced code block$/,
    ],
    [
      'What does this do?\n\n    for (let i = 0; i < n; i++) {\n        total += xs[i];\n    }\n',
      ['code_generation', 'code_review'],
      'code_block',
      /^contains an indented code block$/,
    ],
    ['Write a function that reverses a linked list', ['code_generation'], 'code_generation', /^keyword "function"$/],
    ['Implement an LRU cache', ['code_generation'], 'code_generation', /^keyword "implement"$/],
    ['Refactor my parser so it handles escapes', ['code_generation'], 'code_generation', /^keyword "refactor"$/],
    ['How would I do that in Rust?', ['code_generation'], 'code_generation', /^regex matched "in rust"$/],
    ['Show me a quicksort in C++', ['code_generation'], 'code_generation', /^keyword "c\+\+"$/],
  ];
  for (const [text, agents, rule, reason] of cases) {
    const decision = routeByRules(table, text);
    t.match(decision, { agents, by: 'rule', rule, reason }, text);
    t.same(decision?.agents, agents, `${text}: exactly ${agents.join(' + ')}`);
  }
});

t.test('rule order settles prompts that match several rules', async (t) => {
  const cases: Array<[string, string]> = [
    ['review this code:\n```js\nconst x = eval(input)\n```', 'code_review'],
    ['write unit tests for\n```py\ndef add(a, b):\n    return a + b\n```', 'testing'],
    ['write a Dockerfile for a Node 20 app', 'deployment'],
    ['document this:\n```ts\nexport function f() {}\n```', 'documentation'],
    ['এই কোডটা ব্যাখ্যা করো:\n```js\nlet a = 1\n```', 'bengali'],
    ['write a Python script that deploys to k8s', 'deployment'],
    ['review my unit tests', 'code_review'],
    ['Fix the passive voice in this paragraph of my guide', 'documentation'],
  ];
  for (const [text, rule] of cases) t.equal(routeByRules(table, text)?.rule, rule, text);
});

t.test('nothing matches: the default agent, with or without a classifier in the table', async (t) => {
  const logs = new LogSink();
  const log = createLogger('test', { level: 'debug', destination: logs });
  t.equal(routeByRules(table, 'What is the capital of France?'), undefined);
  // No classify function wired: the table's classifier cannot be used.
  const router = createRouter({ table, catalog, log });
  t.same(await router.route('What is the capital of France?'), {
    agents: ['documentation'],
    by: 'default',
    reason: 'no rule matched',
  });
  t.same(await router.route('   '), { agents: ['documentation'], by: 'default', reason: 'no text to route' });
  t.same(await router.route('deploy it'), {
    agents: ['deployment'],
    by: 'rule',
    rule: 'deployment',
    reason: 'keyword "deploy"',
  });
  t.match(
    logs.lines.find((line) => line['msg'] === 'routed by rule'),
    { routing: { rule: 'deployment' } },
    'decisions are logged at debug',
  );
});

t.test('keywords: whole words, any case, phrases across whitespace, Unicode', async (t) => {
  const only = (rule: Omit<RoutingTableFile['rules'][number], 'name' | 'agents'>) =>
    createRoutingTable({ default: 'documentation', rules: [{ name: 'r', agents: ['testing'], ...rule }] }, catalog);
  const words = only({ keywords: ['ci', 'unit test', "what's up", 'বাংলা', 'c++'] });
  t.ok(routeByRules(words, 'our CI is red'), 'case-insensitive');
  t.notOk(routeByRules(words, 'draw a circle'), '"ci" is not matched inside "circle"');
  t.notOk(routeByRules(words, 'a unit tester'), 'no partial words');
  t.match(
    routeByRules(words, 'one unit\n   test'),
    { reason: 'keyword "unit test"' },
    'a phrase spans any whitespace; the reason folds it',
  );
  t.ok(routeByRules(words, 'What’s up?'), "a typographic apostrophe matches '");
  t.ok(routeByRules(words, 'আমি বাংলা বলি'), 'a Bengali keyword matches as a word');
  t.notOk(routeByRules(words, 'আমি বাংলায় বলি'), 'but not as the start of a longer Bengali word');
  t.ok(routeByRules(words, 'modern c++ tricks'), 'a keyword may end in punctuation');
  const script = only({ script: 'Bengali', min_script_chars: 3 });
  t.notOk(routeByRules(script, 'the letter ক and খ'), 'two characters are under the minimum');
  t.match(routeByRules(script, 'কখগ'), { reason: '3 Bengali characters' });
  t.match(
    routeByRules(only({ script: 'Devanagari' }), 'नमस्ते'),
    { reason: /^\d+ Devanagari characters$/ },
    'any Unicode script, default minimum 3',
  );
});

t.test('reasons never echo more than 40 characters of the user text', async (t) => {
  const greedy = createRoutingTable(
    { default: 'documentation', rules: [{ name: 'r', agents: ['testing'], regex: [{ pattern: 'secret.*' }] }] },
    catalog,
  );
  const decision = routeByRules(greedy, `secret ${'x'.repeat(500)}`)!;
  t.ok(decision.reason.length <= 60, `short reason: ${decision.reason}`);
  t.match(decision.reason, /^regex matched "secret x+…"$/);
  const longKeyword = createRoutingTable(
    { default: 'documentation', rules: [{ name: 'r', agents: ['testing'], keywords: ['a'.repeat(100)] }] },
    catalog,
  );
  t.ok(routeByRules(longKeyword, 'a'.repeat(100))!.reason.length <= 60);
  const late = `${'x '.repeat(MAX_ROUTED_CHARS)} deploy`;
  t.equal(routeByRules(table, late), undefined, `only the first ${MAX_ROUTED_CHARS} characters are matched`);
});

t.test('code blocks: fenced, tilde-fenced, or indented lines that look like code', async (t) => {
  t.ok(matchCodeBlock('look: ```const a = 1;```'), 'inline fence');
  t.ok(matchCodeBlock('~~~\nSELECT 1;\n~~~'), 'tilde fence');
  t.ok(matchCodeBlock('fix:\n\n    def f(x):\n        return x * 2\n'), 'indented Python');
  t.notOk(matchCodeBlock('Shopping list:\n    - eggs\n    - milk\n'), 'an indented list is not code');
  t.notOk(matchCodeBlock('    just one indented line;'), 'one line is not a block');
  t.notOk(
    matchCodeBlock('A paragraph.\n    Indented prose here\n    and more prose here'),
    'indented prose is not code',
  );
  t.notOk(matchCodeBlock('no code at all'));
});

t.test('a broken table is refused with the file, ROUTING_FILE and the field named', async (t) => {
  const rule = (over: object = {}) => ({ name: 'r', agents: ['testing'], keywords: ['x'], ...over });
  const table = (over: object = {}) => ({ default: 'documentation', rules: [rule()], ...over });
  const cases: Array<[string, unknown, RegExp]> = [
    ['not JSON', '{ "rules": [', /cannot read routing table .*not-json\.json \(ROUTING_FILE\): /],
    ['no default', { rules: [] }, /invalid routing table .*\(ROUTING_FILE\): default is required/],
    ['unknown field', table({ rules: [rule({ keyword: ['x'] })] }), /rules\[0\]\.keyword is not allowed/],
    ['unknown top-level field', table({ fallback: 'testing' }), /fallback is not allowed/],
    [
      'unknown rule agent',
      table({ rules: [rule(), rule({ name: 's', agents: ['testing', 'sql_expert'] })] }),
      /rules\[1\]\.agents\[1\] names the agent "sql_expert", which is not in the agent catalog .*agents\.json \(known: bengali_nlp, /,
    ],
    [
      'unknown default',
      table({ default: 'helpdesk' }),
      /: default names the agent "helpdesk", which is not in the agent catalog/,
    ],
    [
      'unknown aggregator',
      table({ rules: [rule({ agents: ['testing', 'code_review'], aggregator: 'judge' })] }),
      /rules\[0\]\.aggregator names the agent "judge"/,
    ],
    [
      'unknown classifier agent',
      table({ classifier: { agent: 'oracle' } }),
      /classifier\.agent names the agent "oracle"/,
    ],
    [
      'bad regex',
      table({ rules: [rule({ keywords: undefined, regex: [{ pattern: 'a' }, { pattern: '(unclosed' }] })] }),
      /rules\[0\]\.regex\[1\]\.pattern is not a valid regular expression: .*Unterminated group/,
    ],
    [
      'stateful regex flag',
      table({ rules: [rule({ regex: [{ pattern: 'a', flags: 'g' }] })] }),
      /rules\[0\]\.regex\[0\]\.flags must match pattern/,
    ],
    [
      'unknown script',
      table({ rules: [rule({ keywords: undefined, script: 'Klingon' })] }),
      /rules\[0\]\.script "Klingon" is not a Unicode script name/,
    ],
    ['no condition', table({ rules: [rule({ keywords: undefined })] }), /rules\[0\] needs at least one condition/],
    ['code_block false', table({ rules: [rule({ code_block: false })] }), /rules\[0\]\.code_block must be true/],
    [
      'aggregator of one agent',
      table({ rules: [rule({ aggregator: 'code_review' })] }),
      /rules\[0\]\.aggregator only applies when the rule names several agents/,
    ],
    ['duplicate rule name', table({ rules: [rule(), rule()] }), /rules\[1\]\.name "r" is used by an earlier rule/],
    [
      'too many agents',
      table({ rules: [rule({ agents: [...catalog.names, 'testing'] })] }),
      /rules\[0\]\.agents must have at most 7 items/,
    ],
    [
      'repeated agent',
      table({ rules: [rule({ agents: ['testing', 'testing'] })] }),
      /rules\[0\]\.agents must not hold the same item twice/,
    ],
    [
      'timeout too short',
      table({ classifier: { agent: 'documentation', timeout_ms: 10 } }),
      /classifier\.timeout_ms must be at least 100/,
    ],
    [
      'min_script_chars alone',
      table({ rules: [rule({ min_script_chars: 2 })] }),
      /rules\[0\]\.min_script_chars only applies with "script"/,
    ],
  ];
  for (const [name, content, message] of cases) {
    const file = write(`${name.replace(/ /g, '-').toLowerCase()}.json`, content);
    t.throws(() => loadRoutingTable(file, catalog), message, name);
  }
  t.throws(
    () => loadRoutingTable(join(dir, 'missing.json'), catalog),
    /cannot read routing table .*missing\.json \(ROUTING_FILE\): ENOENT/,
  );
  t.ok(
    loadRoutingTable(write('minimal.json', { default: 'testing', rules: [] }), catalog),
    'an empty rule list is valid: everything goes to the default (or the classifier)',
  );
});

t.test('the shipped table refuses a catalog without its agents', async (t) => {
  const small = loadCatalog(
    write('catalog.json', { agents: [{ name: 'documentation', description: 'd', system_prompt: 'Write docs.' }] }),
  );
  t.throws(
    () => loadRoutingTable(DEFAULT_ROUTING_FILE, small),
    /rules\[0\]\.agents\[0\] names the agent "bengali_nlp", which is not in the agent catalog .*catalog\.json \(known: documentation\)/,
  );
  t.ok(shipped.rules.length > 0);
});

t.test('classifier prompt: every agent with its description; the text cut at 2000 characters', async (t) => {
  const messages = classifierMessages(catalog.agents, 'y'.repeat(MAX_CLASSIFIED_CHARS + 500));
  t.equal(messages.length, 2);
  t.equal(messages[0]!.role, 'system');
  for (const agent of catalog.agents) t.match(messages[0]!.content, `- ${agent.name}: ${agent.description}`);
  t.match(messages[0]!.content, /Answer with only the agent name/);
  t.equal(messages[1]!.role, 'user');
  t.ok(messages[1]!.content.length < MAX_CLASSIFIED_CHARS + 20, 'user text truncated');
  t.match(messages[1]!.content, /\[…truncated\]$/);
  t.same(classifierMessages(catalog.agents, 'short')[1], { role: 'user', content: 'short' });
});

t.test('classifier answers: the first agent named, whatever the punctuation and case', async (t) => {
  const names = catalog.names;
  const cases: Array<[string, string | undefined]> = [
    ['code_review', 'code_review'],
    ['`testing`', 'testing'],
    ['  Deployment.\n', 'deployment'],
    ['Agent: **code_generation**', 'code_generation'],
    ['Code Review', 'code_review'],
    ['voice-processor', 'voice_processor'],
    ['"bengali_nlp" (then maybe documentation)', 'bengali_nlp'],
    ['documentation or testing', 'documentation'],
    ['I would pick testing, not code_review', 'testing'],
    ['I cannot decide.', undefined],
    ['', undefined],
    ['code_reviewer', undefined],
    ['pretesting', undefined],
  ];
  for (const [answer, expected] of cases) t.equal(agentNamedIn(answer, names), expected, JSON.stringify(answer));
});

t.test('the classifier envelope is a valid bus request that stores nothing', async (t) => {
  const agent = catalog.get('documentation')!;
  const request = { text: 'What is NATS?', agent, candidates: catalog.agents, timeoutMs: 1500 };
  const envelope = classifierEnvelope(request, { tenant: 'router', heartbeatMs: 200 }, 1_700_000_000_000);
  t.ok(isChatRequest(envelope), 'valid against the bus schema');
  t.match(envelope, {
    intent: 'documentation',
    model: 'documentation',
    store: false,
    stream: false,
    create_session: true,
    options: { temperature: 0, max_tokens: 16 },
    timeout_ms: 1500,
    heartbeat_ms: 200,
    tenant: 'router',
    created_at: 1_700_000_000_000,
    request_id: /^route-/,
    session_id: /^route_/,
  });
  t.notOk('private' in envelope, 'not private unless asked');
  t.equal(classifierEnvelope({ ...request, private: true }, { tenant: 'router', heartbeatMs: 200 }).private, true);
  t.not(
    classifierEnvelope(request, { tenant: 'router', heartbeatMs: 200 }).request_id,
    envelope.request_id,
    'a fresh id per call',
  );
});

t.test("a scoped key's text goes only to a classifier agent the key may call, or the system's", async (t) => {
  const log = createLogger('test', { level: 'silent' });
  const asked: Array<{ agent: string; candidates: string[] }> = [];
  const classify: Classify = (request) => {
    asked.push({ agent: request.agent.name, candidates: request.candidates.map((agent) => agent.name) });
    return Promise.resolve({ kind: 'agent', agent: request.candidates.at(-1)!.name });
  };
  const scope = (names: string[]) => (agent: string) => names.includes(agent);
  const question = 'What is the capital of France?';
  const router = createRouter({ table, catalog, classify, log });

  const all = await router.route(question);
  t.same(asked.pop(), { agent: 'documentation', candidates: catalog.names });
  t.equal(all.reason, `no rule matched; classifier documentation chose ${catalog.names.at(-1)}`);

  const scoped = await router.route(question, { mayCall: scope(['testing', 'code_review']) });
  t.same(asked.pop(), { agent: 'code_review', candidates: ['code_review', 'testing'] }, 'the first of its scope');
  t.same(scoped, {
    agents: ['testing'],
    by: 'classifier',
    reason: 'no rule matched; classifier code_review chose testing',
  });

  await router.route(question, { mayCall: scope(['documentation', 'testing']) });
  t.same(
    asked.pop(),
    { agent: 'documentation', candidates: ['documentation', 'testing'] },
    'its own agent when allowed',
  );

  const system = createRoutingTable(
    { ...shipped, classifier: { agent: 'documentation', enabled: true, system: true } },
    catalog,
  );
  await createRouter({ table: system, catalog, classify, log }).route(question, { mayCall: scope(['testing']) });
  t.same(asked.pop(), { agent: 'documentation', candidates: ['testing'] }, 'a system classifier classifies for all');

  t.same(await router.route(question, { mayCall: scope([]) }), {
    agents: ['documentation'],
    by: 'default',
    reason: 'no rule matched',
  });
  t.same(asked, [], 'a key with no agent asks no classifier');
});

t.test('a classification cancelled before it starts says so, not only that the client left', async (t) => {
  const classify = createClassifier({ tenant: 't', heartbeatMs: 1000 } as ClassifierDeps);
  const [agent] = catalog.agents;
  const refused = await classify({
    text: 'hi',
    agent: agent!,
    candidates: [agent!],
    timeoutMs: 1000,
    signal: AbortSignal.abort(),
  }).catch((err: unknown) => err);
  t.match(refused, { code: 'request_cancelled', message: /cancelled it or went away/ });
});
