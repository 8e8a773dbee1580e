import { fileURLToPath } from 'node:url';
import t from 'tap';
import { loadCatalog } from '../../common/catalog.js';
import type { Caller } from '../../gateway/auth/caller.js';
import { namedChoice } from '../../gateway/chat/choose-agents.js';

// The agent a chat request names, and what a scoped key learns when it names one it may not call.

const catalog = loadCatalog(fileURLToPath(new URL('../e2e/fixtures/embedding-agents.json', import.meta.url)));
const caller = (agents: string[] | null): Caller => ({
  tenant: 't',
  name: 'team-a',
  agents,
  tier: 'unlimited',
  private: false,
});
const refusal = (model: string, agents: string[] | null) => {
  try {
    namedChoice(catalog, model, undefined, caller(agents));
  } catch (err) {
    return err;
  }
  return undefined;
};

t.test('an embedding agent on a chat route: 400 to a key that may call it, the 403 of any agent to others', (t) => {
  t.match(refusal('nomic', null), { code: 'invalid_request', param: 'model', message: /is an embedding model/ });
  const outside = refusal('nomic', ['testing']);
  t.match(outside, { code: 'agent_not_allowed', param: 'model', message: /may not call the agent "nomic"/ });
  t.notMatch(outside, { message: /embedding/ }, "the agent's kind stays unsaid");
  t.same(
    namedChoice(catalog, 'testing', undefined, caller(['testing']))?.agents.map((a) => a.name),
    ['testing'],
  );
  t.end();
});

t.test('an unknown model on a chat route lists the chat agents the key may call, not embedding ones', (t) => {
  const unknown = refusal('gpt-9', null) as Error;
  t.match(unknown, { code: 'model_not_found', param: 'model', message: /Known agents: .*testing/ });
  t.notMatch(unknown.message, /nomic/, 'an embedding agent does not chat');
  t.end();
});

t.test('a key of embedding agents only is not offered "auto" on a chat route: nothing could answer', (t) => {
  const unknown = refusal('gpt-9', ['nomic']) as Error;
  t.match(unknown, { code: 'model_not_found', message: /This API key may call no chat agent\.$/ });
  t.notMatch(unknown.message, /auto/);
  t.match(refusal('gpt-9', ['nomic', 'testing']), { message: /Known agents: testing; or "auto"/ });
  t.end();
});
