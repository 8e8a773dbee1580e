import type { FastifyReply } from 'fastify';
import type { Call } from '../call/call.js';
import type { ChatIdentity } from '../chat/types.js';
import { relayStream, type StreamFormat, type StreamRelayOptions } from '../http/stream-relay.js';
import type { ResponseEcho } from './responses-object.js';
import { responsesEvents, type ResponseEvent } from './responses-events.js';

const sse = (events: ResponseEvent[]) =>
  events.map((event) => `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`).join('');

/**
 * The Responses API's events (responses-events.ts) as server-sent events: `event: <type>` and
 * the event as `data`. A failure mid-answer is an `error` event, then `response.failed`.
 */
export function responsesEventFormat(identity: ChatIdentity, echo: ResponseEcho): StreamFormat {
  const events = responsesEvents(identity, echo);
  return {
    contentType: 'text/event-stream; charset=utf-8',
    headers: { connection: 'keep-alive' },
    keepAlive: ': keep-alive\n\n',
    opening: () => sse(events.opening()),
    delta: (frame) => sse(events.delta(frame)),
    done: (frame) => sse(events.done(frame)),
    error: (error) => sse([events.error(error), events.failed(error)]),
  };
}

/** Relays reply frames as the Responses API's server-sent events. */
export function relayAsResponseEvents(
  reply: FastifyReply,
  call: Call,
  options: StreamRelayOptions & { identity: ChatIdentity; echo: ResponseEcho },
): Promise<void> {
  return relayStream(reply, call, options, responsesEventFormat(options.identity, options.echo));
}
