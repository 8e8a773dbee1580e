import { PassThrough } from 'node:stream';
import t from 'tap';
import { createLogger, withoutApiKeys } from '../../common/logger.js';

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
  t.match(request, { req: { method: 'GET', headers: { authorization: '[redacted]' } } });
  t.match(headers, { headers: { authorization: '[redacted]', accept: '*/*' } });
  t.match(client, { client: { apiKey: '[redacted]', baseURL: 'http://upstream' } });
});

t.test('an object without an apiKey is logged as it is, not copied', async (t) => {
  const object = { a: { b: 1 }, c: 'd' };
  t.equal(withoutApiKeys(object), object);
});
