import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { BUILTIN_DEFAULT_MODEL, loadCatalog, selectAgents } from '../../common/catalog.js';
import { AUTH, startStack } from '../helpers/stack.js';

const dir = mkdtempSync(join(tmpdir(), 'agentbus-catalog-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const write = (name: string, content: unknown) => {
  const file = join(dir, name);
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
};
const agent = (over: object = {}) => ({ name: 'helper', description: 'helps', system_prompt: 'Be helpful.', ...over });

t.test('the default catalog holds the seven agents, each with a prompt and the default model', async (t) => {
  const catalog = loadCatalog();
  t.same(catalog.names, [
    'bengali_nlp',
    'code_generation',
    'code_review',
    'documentation',
    'testing',
    'deployment',
    'voice_processor',
  ]);
  for (const a of catalog.agents) {
    t.ok(a.systemPrompt.length > 40, `${a.name} has a real system prompt`);
    t.equal(a.model, BUILTIN_DEFAULT_MODEL);
    t.equal(a.historyTurns, 10);
  }
  t.ok(
    loadCatalog(undefined, 'qwen2.5:0.5b').agents.every((a) => a.model === 'qwen2.5:0.5b'),
    'DEFAULT_MODEL switches every agent',
  );
});

t.test('an agent naming its own model keeps it; options and history window are read', async (t) => {
  const catalog = loadCatalog(
    write('own.json', { agents: [agent({ model: 'phi3', options: { temperature: 0.1 }, history_turns: 3 })] }),
    'other',
  );
  t.match(catalog.get('helper'), { model: 'phi3', options: { temperature: 0.1 }, historyTurns: 3 });
});

t.test('a broken catalog is refused with the file and the field named', async (t) => {
  const cases: Array<[string, unknown, RegExp]> = [
    ['not JSON', '{ agents: [', /cannot read agent catalog .*not-json\.json \(AGENTS_FILE\)/],
    ['no agents', { agents: [] }, /agents must have at least 1 item/],
    ['missing system prompt', { agents: [{ name: 'x', description: 'd' }] }, /agents\[0\]\.system_prompt is required/],
    ['name with a dot', { agents: [agent({ name: 'a.b' })] }, /agents\[0\]\.name must match pattern/],
    ['unknown field', { agents: [agent({ temprature: 1 })] }, /agents\[0\]\.temprature is not allowed/],
    [
      'bad option',
      { agents: [agent({ options: { temperature: 5 } })] },
      /agents\[0\]\.options\.temperature must be at most 2/,
    ],
    ['duplicate name', { agents: [agent(), agent()] }, /agent "helper" is listed twice/],
  ];
  for (const [name, content, message] of cases) {
    const file = write(`${name.replace(/ /g, '-').toLowerCase()}.json`, content);
    t.throws(() => loadCatalog(file), message, name);
  }
  t.throws(() => loadCatalog(join(dir, 'missing.json')), /cannot read agent catalog .*ENOENT/);
});

t.test('selectAgents: all by default, unknown names listed with the known ones', async (t) => {
  const catalog = loadCatalog();
  t.equal(selectAgents(catalog, []).length, 7);
  t.same(
    selectAgents(catalog, ['testing']).map((a) => a.name),
    ['testing'],
  );
  t.throws(
    () => selectAgents(catalog, ['testing', 'nope']),
    /unknown agent\(s\) nope; the catalog .* has: bengali_nlp/,
  );
});

t.test('AGENTS_FILE replaces the catalog the gateway serves; history_turns 0 feeds no memory', async (t) => {
  const file = write('custom.json', {
    agents: [agent({ name: 'sql_expert', description: 'Writes SQL' }), agent({ name: 'forgetful', history_turns: 0 })],
  });
  const stack = await startStack({ env: { AGENTS_FILE: file } });
  t.teardown(() => stack.close());
  const models: any = await (await fetch(`${stack.baseUrl}/v1/models`, { headers: AUTH })).json();
  t.same(models.data.map((m: any) => [m.id, m.description]).slice(0, -1), [
    ['sql_expert', 'Writes SQL'],
    ['forgetful', 'helps'],
  ]);
  t.equal(models.data.at(-1).id, 'auto', 'and the router');
  const res = await fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({ model: 'sql_expert', messages: [{ role: 'user', content: 'count rows' }] }),
  });
  t.equal(res.status, 200);
  t.equal(stack.ollama.requests.at(-1)!.messages[0]!.content, 'Be helpful.');

  const ask = (headers: Record<string, string>) =>
    fetch(`${stack.baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...AUTH, ...headers },
      body: JSON.stringify({ model: 'forgetful', messages: [{ role: 'user', content: 'again' }] }),
    }).then((r) => r.json());
  const first = await ask({});
  const second = await ask({ 'x-session-id': first.conversation_id });
  t.equal(second.conversation_id, first.conversation_id);
  t.equal(second.meta.memory_used, false, 'no history was fed, so memory_used is false');
  t.same(stack.ollama.requests.at(-1)!.messages.slice(1), [{ role: 'user', content: 'again' }]);
});
