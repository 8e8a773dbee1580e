import t from 'tap';
import { FrameError, parseClientFrame } from '../../gateway/websocket/parse-frame.js';

// What a WebSocket frame without a usable `type` is told: missing, of the wrong kind, or unknown.
const messageOf = (frame: object) => {
  try {
    parseClientFrame(JSON.stringify(frame), false, 64);
  } catch (err) {
    if (err instanceof FrameError) return { id: err.id, param: err.error.param, message: err.error.message };
    throw err;
  }
  return undefined;
};

t.test('a frame type that is missing, not a string, or unknown is named as such', async (t) => {
  t.match(messageOf({ id: 'a' }), { id: 'a', param: 'type', message: /^The frame has no "type"; expected one of/ });
  t.match(messageOf({ type: 5, id: 'b' }), { param: 'type', message: /"type" must be a string, not number/ });
  t.match(messageOf({ type: null }), { message: /must be a string, not null/ });
  t.match(messageOf({ type: ['chat'] }), { message: /must be a string, not an array/ });
  t.match(messageOf({ type: 'teleport' }), { message: /^Unknown frame type "teleport"; expected one of: auth, chat/ });
});
