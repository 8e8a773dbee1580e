import type { FastifyReply } from 'fastify';
import { AgentbusError } from '../../bus-schemas/index.js';
import type { Call } from '../call/call.js';
import type { ChatIdentity } from '../chat/types.js';
import { relayStream, type StreamFormat, type StreamRelayOptions } from '../http/stream-relay.js';
import type { ResponseEcho } from './responses-object.js';
import { responsesEvents, type ResponseEvent } from './responses-events.js';

const sse = (events: ResponseEvent[]) =>
  events.map((event) => `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`).join('');

/** An error in the request's own terms (the Responses fields); as it is when absent. */
export type ErrorTerms = (err: AgentbusError) => unknown;

/**
 * The Responses API's events (responses-events.ts) as server-sent events: `event: <type>` and
 * the event as `data`. A failure mid-answer is an `error` event, then `response.failed`, in `terms`.
 */
export function responsesEventFormat(
  identity: ChatIdentity,
  echo: ResponseEcho,
  terms: ErrorTerms = (err) => err,
): StreamFormat {
  const events = responsesEvents(identity, echo);
  const inTerms = (err: AgentbusError) => AgentbusError.from(terms(err));
  return {
    contentType: 'text/event-stream; charset=utf-8',
    keepAlive: ': keep-alive\n\n',
    opening: () => sse(events.opening()),
    delta: (frame) => sse(events.delta(frame)),
    done: (frame) => sse(events.done(frame)),
    error: (error) => {
      const named = inTerms(error);
      return sse([events.error(named), events.failed(named)]);
    },
  };
}

/** Relays reply frames as the Responses API's server-sent events. */
export function relayAsResponseEvents(
  reply: FastifyReply,
  call: Call,
  options: StreamRelayOptions & { identity: ChatIdentity; echo: ResponseEcho; terms?: ErrorTerms },
): Promise<void> {
  return relayStream(reply, call, options, responsesEventFormat(options.identity, options.echo, options.terms));
}
