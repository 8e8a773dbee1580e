import t from 'tap';
import { estimatedUsage } from '../../workers/providers/estimated-usage.js';

// Usage for an upstream that reports none: an estimate, never zeros for an answer that was given.
t.test('the prompt at four characters a token, the answer as its chunks', (t) => {
  const prompt = [
    { role: 'system' as const, content: 'Be brief.' },
    { role: 'user' as const, content: 'What is two and two?' },
  ];
  t.same(estimatedUsage(prompt, { chunks: 3, chars: 6 }), { prompt_tokens: 8, completion_tokens: 3, total_tokens: 11 });
  t.end();
});

t.test("a server streaming several tokens a chunk: the answer's characters count when that is more", (t) => {
  t.same(estimatedUsage([], { chunks: 1, chars: 40 }), { prompt_tokens: 0, completion_tokens: 10, total_tokens: 10 });
  t.end();
});

t.test("an assistant turn's call arguments are prompt too", (t) => {
  const call = { id: 'c', type: 'function' as const, function: { name: 'f', arguments: '{"city":"Lima"}' } };
  const usage = estimatedUsage([{ role: 'assistant', content: '', tool_calls: [call] }], { chunks: 0, chars: 0 });
  t.equal(usage.prompt_tokens, 4);
  t.end();
});
