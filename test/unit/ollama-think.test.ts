import t from 'tap';
import { toOllamaOptions, toOllamaThink } from '../../workers/providers/ollama/params.js';

t.test('reasoning_effort → think: levels for gpt-oss, on/off for the others, none is off', async (t) => {
  t.equal(toOllamaThink('qwen3:8b', undefined), undefined, 'not asked: the model decides');
  t.equal(toOllamaThink('qwen3:8b', 'high'), true);
  t.equal(toOllamaThink('deepseek-r1', 'minimal'), true);
  t.equal(toOllamaThink('qwen3:8b', 'none'), false);
  t.equal(toOllamaThink('gpt-oss:20b', 'high'), 'high');
  t.equal(toOllamaThink('gpt-oss:20b', 'medium'), 'medium');
  t.equal(toOllamaThink('gpt-oss:20b', 'minimal'), 'low', 'the lowest level Ollama takes');
  t.equal(toOllamaThink('gpt-oss:120b', 'none'), false);
});

t.test('reasoning_effort is no sampling option for Ollama', async (t) => {
  t.same(toOllamaOptions({ temperature: 0.5, reasoning_effort: 'high' }), { temperature: 0.5 });
});
