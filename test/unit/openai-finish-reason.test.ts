import t from 'tap';
import { finishReasonOf } from '../../workers/providers/openai/index.js';

// The upstream's finish reasons in the bus's terms: a cut answer must stay cut.
t.test('content_filter, length and tool_calls are kept; anything else is stop', (t) => {
  t.equal(finishReasonOf('content_filter'), 'content_filter');
  t.equal(finishReasonOf('length'), 'length');
  t.equal(finishReasonOf('tool_calls'), 'tool_calls');
  t.equal(finishReasonOf('stop'), 'stop');
  t.equal(finishReasonOf('function_call'), 'stop', "the deprecated function_call: the provider's calls say tool_calls");
  t.equal(finishReasonOf('eos'), 'stop', "a server's own word for the end");
  t.end();
});
