import t from 'tap';
import type { ChatMessage } from '../../bus-schemas/index.js';
import { withoutOldestTurn } from '../../workers/providers/stored-history.js';

const system: ChatMessage = { role: 'system', content: 'You test.' };
const user = (content: string): ChatMessage => ({ role: 'user', content });
const assistant = (content: string): ChatMessage => ({ role: 'assistant', content });
const calling: ChatMessage = {
  role: 'assistant',
  content: '',
  tool_calls: [{ id: 'c1', type: 'function', function: { name: 'w', arguments: '{}' } }],
};
const result: ChatMessage = { role: 'tool', content: '24 °C', tool_call_id: 'c1' };
const text = (messages: readonly ChatMessage[]) => messages.map((m) => `${m.role}:${m.content}`);

t.test('the oldest stored turn goes first, whole: a call keeps its results', async (t) => {
  const messages = [system, user('a'), calling, result, assistant('warm'), user('b'), assistant('B'), user('now')];
  const once = withoutOldestTurn({ messages, storedHistory: { start: 1, end: 7 } })!;
  t.same(text(once.messages), ['system:You test.', 'user:b', 'assistant:B', 'user:now']);
  t.same(once.storedHistory, { start: 1, end: 3 });
  const twice = withoutOldestTurn(once)!;
  t.same(text(twice.messages), ['system:You test.', 'user:now'], "the client's own messages stay");
  t.equal(withoutOldestTurn(twice), undefined, 'nothing stored is left');
});

t.test("the turn whose calls the request's results answer stays; no history, nothing to leave out", async (t) => {
  const messages = [system, user('old'), assistant('A'), user('w?'), calling, result, user('and?')];
  const once = withoutOldestTurn({ messages, storedHistory: { start: 1, end: 5 } })!;
  t.same(text(once.messages), ['system:You test.', 'user:w?', 'assistant:', 'tool:24 °C', 'user:and?']);
  t.equal(withoutOldestTurn(once), undefined, 'dropping it would leave a result answering nothing');
  t.equal(withoutOldestTurn({ messages: [system, user('hi')] }), undefined);
  t.equal(withoutOldestTurn({ messages: [system, user('hi')], storedHistory: { start: 1, end: 1 } }), undefined);
});

t.test('a stored developer message goes with its turn, not with the turn before it', async (t) => {
  // A Responses input item of role developer (or system) is stored with its turn and replayed.
  const persona: ChatMessage = { role: 'system', content: 'Be brief.' };
  const later: ChatMessage = { role: 'system', content: 'Now in French.' };
  const messages = [system, persona, user('a'), assistant('A'), later, user('b'), assistant('B'), user('now')];
  const once = withoutOldestTurn({ messages, storedHistory: { start: 1, end: 7 } })!;
  t.same(text(once.messages), ['system:You test.', 'system:Now in French.', 'user:b', 'assistant:B', 'user:now']);
  const twice = withoutOldestTurn(once)!;
  t.same(text(twice.messages), ['system:You test.', 'user:now']);
});
