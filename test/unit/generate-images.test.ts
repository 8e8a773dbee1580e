import t from 'tap';
import { AgentbusError } from '../../bus-schemas/index.js';
import { generateToChatBody } from '../../gateway/legacy/generate.js';

const refusal = (images: string[]) => {
  try {
    generateToChatBody({ model: 'testing', prompt: 'x', images });
  } catch (err) {
    if (err instanceof AgentbusError) return err;
    throw err;
  }
  return undefined;
};

t.test('a bad image of /api/generate is named as the client sent it', async (t) => {
  const err = refusal(['aGVsbG8=', 'data:image/png;base64,aGVsbG8=']);
  t.equal(err?.code, 'invalid_request');
  t.equal(err?.param, 'images[1]', 'not the chat message part it would have become');
  t.match(err?.message, /^images\[1\] must be the image's bytes in base64/);
  t.equal(refusal(['!!!'])?.param, 'images[0]');
});

t.test('base64 images still become data URLs of the user message', async (t) => {
  t.equal(refusal(['aGVs\nbG8=']), undefined, 'line breaks, as base64 tools write them, pass');
  const body = generateToChatBody({ model: 'testing', prompt: 'x', images: ['aGVsbG8='] });
  t.match(body.messages[0], {
    role: 'user',
    content: [
      { type: 'text', text: 'x' },
      { type: 'image_url', image_url: { url: 'data:image/png;base64,aGVsbG8=' } },
    ],
  });
});
