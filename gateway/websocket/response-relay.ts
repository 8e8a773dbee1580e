import { AgentbusError, errorFromWire } from '../../bus-schemas/index.js';
import { readPendingHangUps } from '../call/pending-hang-ups.js';
import type { StartedChat } from '../chat/types.js';
import { namingContinued } from '../openai/conversation-to-continue.js';
import type { ResponseEcho } from '../openai/responses-object.js';
import type { ResponsesBody } from '../openai/responses-request.schema.js';
import { inResponsesTerms } from '../openai/responses-to-chat.js';
import { responsesEvents, type ResponseEvent } from '../openai/responses-events.js';
import type { ResponseCreateFrame, ResponseEventFrame, ServerFrame } from './frames.schema.js';
import { inFrameTerms } from './chat-frame-body.js';
import { errorFrame } from './server-frames.js';

/** Sends one frame; `onSent` as SocketPort's. False when the socket is closing and it was not sent. */
export type SendFrame = (frame: ServerFrame, onSent?: (err?: Error) => void) => boolean;

/**
 * A refusal or failure in the frame's terms: the response or conversation it continues named, as
 * over HTTP, and, once the frame's body is translated (`body`), its Responses fields for the chat ones.
 */
export function inResponseTerms(err: unknown, frame: ResponseCreateFrame, body?: ResponsesBody): AgentbusError {
  const named = body === undefined ? namingContinued(err, frame) : inResponsesTerms(err, body);
  return named instanceof AgentbusError ? inFrameTerms(named, frame) : AgentbusError.from(named);
}

/**
 * Relays one `response.create` request's reply frames as the Responses events of
 * `POST /v1/responses` (the same builder as its SSE), each tagged with the request's `id`. The
 * opening events wait for the model's first sign of life, as the SSE headers do, so a request
 * that fails first gets one plain `error` frame (`seq: 0`); after that a failure is
 * `response.failed`. Either way exactly one terminal frame ends the request. Resolves with
 * whether the terminal `response.completed`/`.incomplete` was sent (the turn may be committed).
 */
export async function relayResponseEvents(
  frame: ResponseCreateFrame,
  body: ResponsesBody,
  chat: StartedChat,
  echo: ResponseEcho,
  send: SendFrame,
): Promise<boolean> {
  const { id } = frame;
  const { call } = chat;
  const events = responsesEvents(chat.identity, echo);
  let started = false;
  let doneSent = false;
  const sendAll = (list: ResponseEvent[], onLastSent?: (err?: Error) => void) =>
    list.reduce(
      (sent, event, index) =>
        send({ ...event, id } as ResponseEventFrame, index === list.length - 1 ? onLastSent : undefined) && sent,
      true,
    );
  const start = () => {
    if (started) return;
    started = true;
    sendAll(events.opening());
  };
  const fail = (error: AgentbusError) => {
    const named = inResponseTerms(error, frame, body);
    if (started) sendAll([events.failed(named)]);
    else send(errorFrame(id, named, 0));
  };
  // Written to the socket whole: the turn may be committed (protocol v2 receipts).
  const onDoneSent = (err?: Error) =>
    err ? call.close(`the response.completed frame was not sent: ${err.message}`) : call.delivered();
  try {
    for await (const reply of call.frames) {
      if (reply.type === 'heartbeat') start();
      else if (reply.type === 'delta') {
        start();
        sendAll(events.delta(reply));
      } else if (reply.type === 'done') {
        start();
        // A hang-up already here is read first: the frames then find the socket closed, not delivered.
        await readPendingHangUps();
        doneSent = sendAll(events.done(reply), onDoneSent);
      } else if (reply.type === 'error') fail(errorFromWire(reply.error));
    }
  } catch (err) {
    const error = AgentbusError.from(err);
    chat.log[error.code === 'request_cancelled' ? 'info' : 'warn'](
      { code: error.code },
      `WebSocket response ended: ${error.message}`,
    );
    fail(error);
  }
  return doneSent;
}
