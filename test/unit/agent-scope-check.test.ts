import t from 'tap';
import type { Caller } from '../../gateway/auth/caller.js';
import { withinScope } from '../../gateway/chat/agent-scope-check.js';
import type { AgentChoice } from '../../gateway/chat/choose-agents.js';
import { agentWith } from '../helpers/fake-provider.js';

// A refusal names what the key may call — only agents the catalog has.
const catalogNames = ['code_review', 'testing', 'security'];
const caller = (agents: string[]): Caller => ({ tenant: 't', name: 'ci', agents, tier: 'standard', private: false });
const choice = (by: 'model' | 'default'): AgentChoice => ({
  agents: [agentWith('security')],
  routing: { agents: ['security'], by, reason: 'the request names the agent' },
});

t.test('a refusal lists the agents of the scope that exist', async (t) => {
  t.throws(() => withinScope(caller(['testing', 'gone']), choice('model'), catalogNames), {
    code: 'agent_not_allowed',
    message: /may not call the agent "security"\. It may call: testing\.$/,
  });
  t.throws(() => withinScope(caller(['code_review', 'testing']), choice('default'), catalogNames), {
    message: /chose no agent .* Name an agent it may call: code_review, testing\.$/,
  });
});

t.test('a hand-edited scope of agents the catalog lacks is said to reach none', async (t) => {
  for (const by of ['model', 'default'] as const)
    t.throws(() => withinScope(caller(['nosuch']), choice(by), catalogNames), {
      message: /It may call no agent of the catalog: its keys-file entry names none that exists\.$/,
    });
});

t.test("the router's refusal never suggests an embedding agent, which a chat route refuses", async (t) => {
  const names = ['code_review', 'testing', 'embeddings'];
  const isChat = (name: string) => ['code_review', 'testing'].includes(name);
  t.throws(() => withinScope(caller(['embeddings']), choice('default'), names, isChat), {
    code: 'agent_not_allowed',
    message:
      /chose no agent .* It may call no chat agent, only embedding models \(POST \/v1\/embeddings\): embeddings\.$/,
  });
  t.throws(() => withinScope(caller(['embeddings', 'testing']), choice('default'), names, isChat), {
    message: /Name an agent it may call: testing\.$/,
  });
  t.throws(() => withinScope(caller(['embeddings']), choice('model'), names, isChat), {
    message: /may not call the agent "security"\. It may call: embeddings\.$/,
  });
});
