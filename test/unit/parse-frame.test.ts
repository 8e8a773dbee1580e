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
