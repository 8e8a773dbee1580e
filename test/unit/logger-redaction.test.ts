import { PassThrough } from 'node:stream';
import t from 'tap';
import { createLogger, withoutApiKeys, withoutSecretParams } from '../../common/logger.js';

// What the loggers never write: an Authorization header where a request or headers object carries
// it, and an `apiKey` of any object logged one level down (settings, an SDK client).

function lines(log: (logger: ReturnType<typeof createLogger>) => void): string {
  const out = new PassThrough();
  let text = '';
  out.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  log(createLogger('test', { level: 'info', destination: out }));
  return text;
}

t.test('credentials are censored, the rest of each object is kept', async (t) => {
  const text = lines((log) => {
    log.info({ settings: { apiKey: 'sk-one', baseUrl: 'http://upstream' }, count: 2 }, 'settings');
    log.info({ req: { method: 'GET', headers: { authorization: 'Bearer sk-two' } } }, 'request');
    log.info({ headers: { authorization: 'Bearer sk-three', accept: '*/*' } }, 'headers');
    class Client {
      apiKey = 'sk-four';
      baseURL = 'http://upstream';
    }
    log.info({ client: new Client() }, 'client');
  });
  for (const secret of ['sk-one', 'sk-two', 'sk-three', 'sk-four']) t.notMatch(text, secret, `${secret} never written`);
  const [settings, request, headers, client] = text
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
  t.match(settings, { settings: { apiKey: '[redacted]', baseUrl: 'http://upstream' }, count: 2 });
  // A request is logged as fastify's fields (method, url, host, address), never with its headers.
  t.same(request.req, { method: 'GET' });
  t.match(headers, { headers: { authorization: '[redacted]', accept: '*/*' } });
  t.match(client, { client: { apiKey: '[redacted]', baseURL: 'http://upstream' } });
});

t.test("a URL's secret-looking query parameters are censored, the rest kept", async (t) => {
  t.equal(withoutSecretParams('/v1/models'), '/v1/models');
  t.equal(withoutSecretParams('/v1/models?limit=2'), '/v1/models?limit=2');
  t.equal(
    withoutSecretParams('/v1/x?api_key=sk-1&limit=2&API-KEY=sk-2&access_token=t#frag'),
    '/v1/x?api_key=[redacted]&limit=2&API-KEY=[redacted]&access_token=[redacted]#frag',
  );
  t.equal(withoutSecretParams('/v1/x?monkey=1&key=k&password=p'), '/v1/x?monkey=1&key=[redacted]&password=[redacted]');
});

t.test('an object without an apiKey is logged as it is, not copied', async (t) => {
  const object = { a: { b: 1 }, c: 'd' };
  t.equal(withoutApiKeys(object), object);
});
