import Fastify from 'fastify';
import t from 'tap';
import { registerErrorHandling } from '../../gateway/http/errors.js';
import { registerMultipartForm } from '../../gateway/http/multipart-form.js';

// The bound on reading a form (multipart-form.ts). The stall is a hook before the form's own that
// never settles, whatever would cause it (busboy's own, end to end: transcription-form-parts.test.ts).
async function formApp(readTimeoutMs: number, stall: boolean) {
  const app = Fastify();
  registerErrorHandling(app);
  await app.register(async (scope) => {
    if (stall) scope.addHook('preValidation', () => new Promise<void>(() => undefined));
    await registerMultipartForm(scope, readTimeoutMs, { files: 1, fields: 4 });
    scope.post('/form', async (request) => request.body);
  });
  t.teardown(() => app.close());
  return app;
}

const BOUNDARY = 'b0undary';
const post = (app: Awaited<ReturnType<typeof formApp>>) =>
  app.inject({
    method: 'POST',
    url: '/form',
    headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
    payload: `--${BOUNDARY}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n--${BOUNDARY}--\r\n`,
  });

t.test('a form read in time reaches the handler', async (t) => {
  const res = await post(await formApp(60_000, false));
  t.equal(res.statusCode, 200);
  t.same(res.json(), { model: 'whisper-1' });
  t.not(res.headers.connection, 'close');
});

// Bounded far below the file's timeout: without the bound, the request would wait for good.
const BOUNDED = { timeout: 10_000 };

t.test('a read that never ends: 408 client_timeout in the OpenAI shape, connection closed', BOUNDED, async (t) => {
  const res = await post(await formApp(1, true));
  t.equal(res.statusCode, 408);
  t.equal(res.headers.connection, 'close', 'the unread rest of the body cannot start another request');
  t.match(res.json(), {
    error: { code: 'client_timeout', type: 'invalid_request_error', message: /REQUEST_RECEIVE_TIMEOUT_MS \(1 ms\)/ },
  });
});
