import type { FastifyReply } from 'fastify';
import { onAbort } from '../call/call.js';
import { collectAnswer, type CollectedAnswer } from '../call/collect-answer.js';
import type { StartedChat } from '../chat/types.js';
import { shutDownBeforeAnswer } from './drain-deadline.js';

/**
 * Answers with one JSON body made by `format` from the whole answer (OpenAI's chat.completion,
 * a legacy route's own shape, a spoken answer once its audio is made); once it is written, the
 * call is told it was delivered. A client that disconnects first closes the call (the worker
 * cancels, nothing is stored) and gets nothing: there is nobody left to send an error to. A
 * gateway that stops draining while the answer is still being made closes the call the same
 * way, but its client is still there: it gets 503 `bus_unavailable` (drain-deadline.ts).
 */
export async function replyWithAnswer(
  reply: FastifyReply,
  chat: StartedChat,
  format: (answer: CollectedAnswer) => object | Promise<object>,
): Promise<object | undefined> {
  const { call } = chat;
  const deadline = reply.server.drainDeadline;
  deadline.awaiting(call, reply.raw);
  try {
    const answer = await collectAnswer(call.frames);
    // Whole: the deadline no longer concerns it (a spoken answer's audio is not a call to close).
    deadline.settled(call);
    reply.header('x-session-id', answer.done.meta.conversation_id);
    reply.header('x-cache', answer.done.meta.cached ? 'HIT' : 'MISS');
    const formatted = format(answer);
    // A plain body goes out in this very tick, as it always did; only a spoken answer waits.
    const body = formatted instanceof Promise ? await formatted : formatted;
    // Written to the client's socket whole: the turn may be committed (protocol v2 receipts).
    reply.raw.once('finish', () => call.delivered());
    // Too slow a reader: cut, so the last bytes never complete an answer its worker has discarded.
    onAbort(call.overdue, () => reply.raw.destroy());
    return body;
  } catch (err) {
    deadline.settled(call);
    if (!call.closedByClient) throw err;
    if (deadline.passed && !reply.raw.destroyed) {
      // The connection is closed next: say so, as refuse-while-closing.ts does.
      reply.header('connection', 'close');
      throw shutDownBeforeAnswer();
    }
    reply.log.info('client left before the answer finished; the worker was told to cancel it');
    reply.hijack();
    return undefined;
  }
}
