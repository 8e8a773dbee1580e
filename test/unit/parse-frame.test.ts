import t from 'tap';
import { clientFrameError } from '../helpers/client-frame-error.js';

// What a WebSocket frame without a usable `type` is told: missing, of the wrong kind, or unknown.
t.test('a frame type that is missing, not a string, or unknown is named as such', async (t) => {
  t.match(clientFrameError({ id: 'a' }), {
    id: 'a',
    param: 'type',
    message: /^The frame has no "type"; expected one of/,
  });
  t.match(clientFrameError({ type: 5, id: 'b' }), { param: 'type', message: /"type" must be a string, not number/ });
  t.match(clientFrameError({ type: null }), { message: /must be a string, not null/ });
  t.match(clientFrameError({ type: ['chat'] }), { message: /must be a string, not an array/ });
  t.match(clientFrameError({ type: 'teleport' }), {
    message: /^Unknown frame type "teleport"; expected one of: auth, chat/,
  });
});

// `stream` means nothing on a socket (it always streams), but a mistyped one is still a mistake.
t.test('a stream that is not a boolean is refused by name, as over HTTP', async (t) => {
  const responseCreate = { type: 'response.create', id: 'r1', model: 'm', input: 'hi' };
  const chat = { type: 'chat', id: 'c1', model: 'm', messages: [{ role: 'user', content: 'hi' }] };
  for (const frame of [responseCreate, chat]) {
    t.match(clientFrameError({ ...frame, stream: 'yes' }), {
      id: frame.id,
      param: 'stream',
      message: new RegExp(`^Invalid ${frame.type} frame: .*stream.*boolean`),
    });
    for (const stream of [true, false, null]) t.equal(clientFrameError({ ...frame, stream }), undefined, `${stream}`);
  }
  t.match(clientFrameError({ ...chat, stream_options: 'usage' }), { param: 'stream_options' });
  t.equal(clientFrameError({ ...chat, stream_options: { include_usage: true } }), undefined);
});
