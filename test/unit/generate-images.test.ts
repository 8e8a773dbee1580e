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

// The first bytes of each format, as a file of it starts.
const b64 = (bytes: string) => Buffer.from(bytes, 'latin1').toString('base64');
const IMAGES = {
  'image/png': b64('\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR'),
  'image/jpeg': b64('\xff\xd8\xff\xe0\x00\x10JFIF\x00'),
  'image/gif': b64('GIF89a\x01\x00\x01\x00\x80\x00'),
  'image/webp': b64('RIFF\x24\x00\x00\x00WEBPVP8 '),
};

t.test("each image's media type is read from its bytes; others are labelled PNG", async (t) => {
  const images = [...Object.values(IMAGES), b64('GIF87a\x01\x00'), b64('BM\x3a\x00\x00\x00'), 'aGVsbG8='];
  const body = generateToChatBody({ model: 'testing', prompt: 'x', images });
  const content = body.messages[0]!.content as Array<{ image_url?: { url: string } }>;
  t.same(
    content.slice(1).map((part) => /^data:([^;]+);/.exec(part.image_url!.url)?.[1]),
    [...Object.keys(IMAGES), 'image/gif', 'image/png', 'image/png'],
    'a BMP and bytes of no image keep the old label',
  );
  const wrapped = IMAGES['image/jpeg'].replace(/(.{4})/, '$1\n');
  const [, part] = generateToChatBody({ model: 'testing', prompt: 'x', images: [wrapped] }).messages[0]!
    .content as Array<{ image_url?: { url: string } }>;
  t.match(part!.image_url!.url, /^data:image\/jpeg;base64,/, 'a line break in the first characters is skipped');
});
