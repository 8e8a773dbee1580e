import { FrameError, parseClientFrame } from '../../gateway/websocket/parse-frame.js';

/** What parsing `frame` as a WebSocket client frame refuses it with (id, param, message); undefined if taken. */
export function clientFrameError(frame: object) {
  try {
    parseClientFrame(JSON.stringify(frame), false, 64);
  } catch (err) {
    if (err instanceof FrameError) return { id: err.id, param: err.error.param, message: err.error.message };
    throw err;
  }
  return undefined;
}
