import t from 'tap';
import { AgentbusError } from '../../bus-schemas/index.js';
import { generateToChatBody } from '../../gateway/legacy/generate.js';

t.test("Ollama's empty defaults ask for nothing; values are still refused by name", async (t) => {
  // What ollama-python 0.3 sends on every generate call it is given no such argument for.
  const body = generateToChatBody({
    model: 'testing',
    prompt: 'x',
    suffix: '',
    template: '',
    context: [],
    raw: false,
    format: '',
    images: [],
    options: {},
  });
  t.same(body.messages, [{ role: 'user', content: 'x' }]);
  t.notOk('response_format' in body, 'format "" is no format');
  const param = (extra: Record<string, unknown>) => {
    try {
      generateToChatBody({ model: 'testing', prompt: 'x', ...extra });
    } catch (err) {
      if (err instanceof AgentbusError) return err.param;
      throw err;
    }
    return undefined;
  };
  t.equal(param({ context: [1, 2] }), 'context');
  t.equal(param({ suffix: 'end' }), 'suffix');
  t.equal(param({ template: '{{ .Prompt }}' }), 'template');
  t.equal(param({ raw: true }), 'raw');
});
