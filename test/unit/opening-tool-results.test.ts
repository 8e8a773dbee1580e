import t from 'tap';
import type { ChatMessage } from '../../bus-schemas/index.js';
import { checkOpeningToolResults } from '../../workers/chat/opening-tool-results.js';

// Results that open a request continuing a session answer the calls of its last stored turn.

const call = (id: string) => ({ id, type: 'function' as const, function: { name: 'f', arguments: '{}' } });
const history: ChatMessage[] = [
  { role: 'user', content: 'q' },
  { role: 'assistant', content: '', tool_calls: [call('c1'), call('c2')] },
];
const result = (id: string): ChatMessage => ({ role: 'tool', tool_call_id: id, content: 'r' });

t.test('results of the stored calls pass, system messages between them too', (t) => {
  t.doesNotThrow(() =>
    checkOpeningToolResults([result('c2'), { role: 'system', content: 's' }, result('c1')], history),
  );
  t.doesNotThrow(() =>
    checkOpeningToolResults([result('c1'), result('c2'), { role: 'user', content: 'and?' }], history),
  );
  t.doesNotThrow(() => checkOpeningToolResults([{ role: 'user', content: 'first' }], []));
  t.end();
});

t.test('the conversation goes on only once every stored call has its result', (t) => {
  t.throws(() => checkOpeningToolResults([{ role: 'user', content: 'never mind' }], history), {
    code: 'invalid_request',
    param: 'messages[0].role',
    message: /The following tool_call_ids did not have response messages: c1, c2$/,
  });
  t.throws(() => checkOpeningToolResults([result('c1'), { role: 'user', content: 'and?' }], history), {
    param: 'messages[1].role',
    message: /response messages: c2$/,
  });
  // Nor may the request end with one of them unanswered: the model would see c2 without its result.
  t.throws(() => checkOpeningToolResults([result('c1')], history), {
    param: 'messages',
    message: /response messages: c2$/,
  });
  t.end();
});

t.test("a result for a call the last turn did not make, or with no call to answer, is OpenAI's 400", (t) => {
  t.throws(() => checkOpeningToolResults([result('c1'), result('c9')], history), {
    code: 'invalid_request',
    param: 'messages[1].tool_call_id',
    message: /'c9' not found/,
  });
  for (const earlier of [
    [],
    [
      { role: 'user', content: 'q' },
      { role: 'assistant', content: 'a' },
    ],
  ] as ChatMessage[][])
    t.throws(() => checkOpeningToolResults([{ role: 'system', content: 's' }, result('c1')], earlier), {
      param: 'messages[1].role',
      message: /must be a response to a preceeding message/,
    });
  t.end();
});

t.test('a second result for the same stored call is refused, naming both messages', (t) => {
  t.throws(() => checkOpeningToolResults([result('c1'), result('c2'), result('c1')], history), {
    param: 'messages[2].tool_call_id',
    message: /Duplicate value for 'tool_call_id' of 'c1', in messages\[0\] and messages\[2\]/,
  });
  t.end();
});

t.test('a result for a call that was cut by max_tokens says so', (t) => {
  const answered: ChatMessage[] = [
    { role: 'user', content: 'q' },
    { role: 'assistant', content: '' },
  ];
  t.throws(() => checkOpeningToolResults([{ role: 'system', content: 's' }, result('c1')], answered, ['c1']), {
    code: 'invalid_request',
    param: 'messages[1].tool_call_id',
    message: /^The tool call 'c1' was cut short by max_tokens \(finish_reason "length"\)/,
  });
  t.doesNotThrow(() => checkOpeningToolResults([{ role: 'user', content: 'go on' }], answered, ['c1']));
  t.end();
});

t.test('the stored call sent back with its result is named as a duplicate, not as unanswered', (t) => {
  const repeated: ChatMessage = { role: 'assistant', content: '', tool_calls: [call('c2')] };
  t.throws(
    () => checkOpeningToolResults([{ role: 'system', content: 's' }, repeated, result('c1'), result('c2')], history),
    {
      code: 'invalid_request',
      param: 'messages[1]',
      message: /^Duplicate tool call 'c2' in messages\[1\]: the conversation this request continues already holds it/,
    },
  );
  t.end();
});
