import t from 'tap';
import { fromHttpError } from '../../gateway/http/errors.js';

// What the gateway answers (and logs, and counts) for errors raised while a request is read.
const reset = (message: string, statusCode?: number) =>
  Object.assign(new Error(message), { code: 'ECONNRESET' }, statusCode ? { statusCode } : {});

t.test('a client that leaves mid-body cancelled its request: neither a bad request nor a bug', async (t) => {
  // Node's error for a body cut short; fastify marks it 400 when it was reading JSON.
  t.match(fromHttpError(reset('aborted', 400)), { code: 'request_cancelled', status: 499 });
  t.match(fromHttpError(reset('aborted')), { code: 'request_cancelled' }, 'a multipart upload, unmarked');
  const premature = Object.assign(new Error('the request was closed before the multipart data was fully parsed'), {
    code: 'FST_MP_PREMATURE_CLOSE',
    statusCode: 400,
  });
  t.match(fromHttpError(premature), { code: 'request_cancelled' });
});

t.test('other errors keep their meaning', async (t) => {
  t.match(fromHttpError(reset('socket hang up')), { code: 'internal_error' }, 'another reset is not the client');
  t.match(fromHttpError(Object.assign(new Error('bad'), { statusCode: 400 })), { code: 'invalid_request' });
  t.match(fromHttpError(new Error('boom')), { code: 'internal_error', status: 500 });
});
