import { AgentbusError, errorFromWire } from '../../bus-schemas/index.js';
import { readPendingHangUps } from '../call/pending-hang-ups.js';
import type { StartedChat } from '../chat/types.js';
import { inFrameTerms } from './chat-frame-body.js';
import type { ChatFrame } from './frames.schema.js';
import type { SendFrame } from './response-relay.js';
import { deltaFrame, doneFrame, errorFrame } from './server-frames.js';

/**
 * Relays one `chat` request's reply frames as `delta` frames and exactly one terminal `done` or
 * `error`, each tagged with the request's `id` and a gap-free `seq`. A cancel does not end it
 * early: the worker's own terminal frame says whether the turn was stored. Resolves with whether
 * the `done` frame was sent (the turn may be committed).
 */
export async function relayChatFrames(frame: ChatFrame, chat: StartedChat, send: SendFrame): Promise<boolean> {
  const { id } = frame;
  const { call } = chat;
  let seq = 0;
  let doneSent = false;
  // Written to the socket whole: the turn may be committed (protocol v2 receipts).
  const onDoneSent = (err?: Error) =>
    err ? call.close(`the done frame was not sent: ${err.message}`) : call.delivered();
  try {
    for await (const reply of call.frames) {
      if (reply.type === 'delta') send(deltaFrame(id, seq++, reply));
      else if (reply.type === 'done') {
        // A hang-up already here is read first: the frame then finds the socket closed, not delivered.
        await readPendingHangUps();
        doneSent = send(doneFrame(id, seq++, reply, chat.identity.id), onDoneSent);
      } else if (reply.type === 'error') send(errorFrame(id, inFrameTerms(errorFromWire(reply.error), frame), seq++));
    }
  } catch (err) {
    const error = AgentbusError.from(err);
    chat.log[error.code === 'request_cancelled' ? 'info' : 'warn'](
      { code: error.code },
      `WebSocket request ended: ${error.message}`,
    );
    send(errorFrame(id, error, seq));
  }
  return doneSent;
}
