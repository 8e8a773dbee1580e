import type { FastifyReply } from 'fastify';
import { onAbort } from '../call/call.js';
import { collectAnswer, type CollectedAnswer } from '../call/collect-answer.js';
import type { StartedChat } from '../chat/types.js';
import { clientLeftBeforeEnd } from './client-left.js';

/**
 * Answers with one JSON body made by `format` from the whole answer (OpenAI's chat.completion,
 * a legacy route's own shape, a spoken answer once its audio is made); once it is written, the
 * call is told it was delivered. A client that disconnects first closes the call (the worker
 * cancels, nothing is stored) and gets nothing: there is nobody left to send an error to.
 */
export async function replyWithAnswer(
  reply: FastifyReply,
  chat: StartedChat,
  format: (answer: CollectedAnswer) => object | Promise<object>,
): Promise<object | undefined> {
  const { call } = chat;
  try {
    const answer = await collectAnswer(call.frames);
    reply.header('x-session-id', answer.done.meta.conversation_id);
    reply.header('x-cache', answer.done.meta.cached ? 'HIT' : 'MISS');
    const formatted = format(answer);
    const body = formatted instanceof Promise ? await formatted : formatted;
    // Gone before the body was written: not delivered, however that write would have gone.
    if (await clientLeftBeforeEnd(reply.raw)) {
      call.close('client closed the connection');
      return leftEarly(reply);
    }
    // Written to the client's socket whole: the turn may be committed (protocol v2 receipts).
    reply.raw.once('finish', () => call.delivered());
    // Too slow a reader: cut, so the last bytes never complete an answer its worker has discarded.
    onAbort(call.overdue, () => reply.raw.destroy());
    return body;
  } catch (err) {
    if (!call.closedByClient) throw err;
    return leftEarly(reply);
  }
}

/** Nothing to send: the client left before its answer was written. */
function leftEarly(reply: FastifyReply): undefined {
  reply.log.info('client left before the answer finished; the worker was told to cancel it');
  reply.hijack();
  return undefined;
}
