import Fastify from 'fastify';
import t from 'tap';
import { gzipSync } from 'node:zlib';
import { registerContentDecoding } from '../../gateway/http/content-encoding.js';

// A route's own preParsing hook (the rate limiter's admission) may await the shared store while
// the decoder already found the body broken: the 400 must still be sent once the body is read,
// never a request left waiting forever (and its concurrency slot held) because the error fired
// before fastify listened.
async function appWithSlowAdmission(delayMs: number) {
  const app = Fastify();
  registerContentDecoding(app);
  await app.register(async (scoped) => {
    scoped.addHook('preParsing', async () => {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    });
    scoped.post('/echo', async (request) => request.body);
  });
  await app.ready();
  return app;
}

for (const [name, payload] of [
  ['not gzip at all', Buffer.from('not gzip at all')],
  ['a gzip header, then garbage', Buffer.from('\x1f\x8b\x08\x00garbage', 'latin1')],
  ['gzip cut short', gzipSync('{"model": "testing"}').subarray(0, 12)],
] as const) {
  t.test(`${name}, after an admission that awaits: a 400 naming Content-Encoding`, async (t) => {
    const app = await appWithSlowAdmission(50);
    t.teardown(() => app.close());
    let timer: NodeJS.Timeout | undefined;
    const res = await Promise.race([
      app.inject({
        method: 'POST',
        url: '/echo',
        headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
        payload,
      }),
      new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), 3000))),
    ]);
    clearTimeout(timer);
    if (res === 'hung') return t.fail('no answer within 3 s');
    t.equal(res.statusCode, 400);
  });
}

t.test('a valid gzip body after an admission that awaits is decoded whole', async (t) => {
  const app = await appWithSlowAdmission(50);
  t.teardown(() => app.close());
  const res = await app.inject({
    method: 'POST',
    url: '/echo',
    headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    payload: gzipSync(JSON.stringify({ text: 'x'.repeat(100_000) })),
  });
  t.equal(res.statusCode, 200);
  t.equal(res.json().text.length, 100_000);
});
