import t from 'tap';
import type { ChatMessage, ToolCall } from '../../bus-schemas/index.js';
import { replayableHistory } from '../../workers/memory/replayable-history.js';

// Replayed history as a backend takes it: OpenAI refuses a tool message that answers no call right
// before it, and calls some tool message did not answer before the conversation went on.

const call = (id: string): ToolCall => ({ id, type: 'function', function: { name: 'f', arguments: '{}' } });
const user = (content: string): ChatMessage => ({ role: 'user', content });
const answer = (content: string, ...ids: string[]): ChatMessage =>
  ids.length > 0 ? { role: 'assistant', content, tool_calls: ids.map(call) } : { role: 'assistant', content };
const result = (id: string): ChatMessage => ({ role: 'tool', content: `result ${id}`, tool_call_id: id });

t.test('a well-formed conversation passes unchanged', async (t) => {
  const messages = [user('q'), answer('', 'c1', 'c2'), result('c1'), result('c2'), answer('done'), user('more')];
  t.same(replayableHistory(messages), messages);
});

t.test('the newest answer keeps its calls: the request being answered carries their results', async (t) => {
  const messages = [user('q'), answer('', 'c1')];
  t.same(replayableHistory(messages), messages);
});

t.test("results whose call fell out of memory's window are left out", async (t) => {
  t.same(replayableHistory([result('c0'), answer('it is 20 °C'), user('and tomorrow?'), answer('cooler')]), [
    answer('it is 20 °C'),
    user('and tomorrow?'),
    answer('cooler'),
  ]);
});

t.test('a call answered twice (two requests at once) keeps its first result only', async (t) => {
  t.same(replayableHistory([user('q'), answer('', 'c1'), result('c1'), answer('A1'), result('c1'), answer('A2')]), [
    user('q'),
    answer('', 'c1'),
    result('c1'),
    answer('A1'),
    answer('A2'),
  ]);
});

t.test('calls no result followed lose their place; an answer left without calls is a plain one', async (t) => {
  t.same(replayableHistory([answer('', 'c1', 'c2'), result('c2'), answer('half'), answer('x', 'c3'), user('next')]), [
    answer('', 'c2'),
    result('c2'),
    answer('half'),
    answer('x'),
    user('next'),
  ]);
});
