import t from 'tap';
import { ThinkSplitter } from '../../workers/chat/think-splitter.js';

/** Feeds the chunks and returns the whole content and reasoning. */
function split(chunks: string[]) {
  const splitter = new ThinkSplitter();
  let content = '';
  let reasoning = '';
  for (const part of [...chunks.map((c) => splitter.push(c)), splitter.end()]) {
    content += part.content;
    reasoning += part.reasoning;
  }
  return { content, reasoning };
}

t.test('text without thinking passes unchanged, chunk by chunk', async (t) => {
  const splitter = new ThinkSplitter();
  t.same(splitter.push('Hello'), { content: 'Hello', reasoning: '' });
  t.same(splitter.push(' world <b>'), { content: ' world <b>', reasoning: '' });
});

t.test('a think block is taken out of the content, and the blank lines after it', async (t) => {
  t.same(split(['<think>Let me see.\nYes.</think>\n\nThe answer is 4.']), {
    content: 'The answer is 4.',
    reasoning: 'Let me see.\nYes.',
  });
});

t.test('tags cut between chunks anywhere are still found', async (t) => {
  const whole = '<think>plan</think>\nanswer';
  for (let i = 1; i < whole.length; i++) {
    for (let j = i + 1; j < whole.length; j++) {
      t.same(split([whole.slice(0, i), whole.slice(i, j), whole.slice(j)]), { content: 'answer', reasoning: 'plan' });
    }
  }
});

t.test('a "<thi" that never becomes a tag is content, given back at the end', async (t) => {
  t.same(split(['a <thi']), { content: 'a <thi', reasoning: '' });
  t.same(split(['x < y', ' and <thinking> is not a tag']), {
    content: 'x < y and <thinking> is not a tag',
    reasoning: '',
  });
});

t.test('an answer cut inside its thinking has thinking only', async (t) => {
  t.same(split(['<think>still thinking']), { content: '', reasoning: 'still thinking' });
});
