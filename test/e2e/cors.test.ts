import t from 'tap';
import { AUTH, startStack } from '../helpers/stack.js';

const preflight = (baseUrl: string, origin: string) =>
  fetch(`${baseUrl}/v1/chat/completions`, {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization,content-type',
    },
  });

t.test('CORS is off by default: no cross-origin grant, the API still answers same-origin', async (t) => {
  const stack = await startStack({ workerAgents: false });
  t.teardown(() => stack.close());
  const res = await preflight(stack.baseUrl, 'https://elsewhere.example');
  t.equal(res.headers.get('access-control-allow-origin'), null);
  const models = await fetch(`${stack.baseUrl}/v1/models`, {
    headers: { ...AUTH, origin: 'https://elsewhere.example' },
  });
  t.equal(models.status, 200);
  t.equal(models.headers.get('access-control-allow-origin'), null, 'a browser would not let that page read it');
});

t.test('CORS_ORIGINS grants the listed origins only', async (t) => {
  const stack = await startStack({ workerAgents: false, env: { CORS_ORIGINS: 'https://app.example' } });
  t.teardown(() => stack.close());
  const allowed = await preflight(stack.baseUrl, 'https://app.example');
  t.equal(allowed.status, 204);
  t.equal(allowed.headers.get('access-control-allow-origin'), 'https://app.example');
  t.match(allowed.headers.get('access-control-allow-headers') ?? '', /authorization/);
  const other = await preflight(stack.baseUrl, 'https://evil.example');
  t.equal(other.headers.get('access-control-allow-origin'), null);
  const models = await fetch(`${stack.baseUrl}/v1/models`, { headers: { ...AUTH, origin: 'https://app.example' } });
  t.equal(models.headers.get('access-control-allow-origin'), 'https://app.example');
  t.match(models.headers.get('access-control-expose-headers') ?? '', /x-request-id/);
});
