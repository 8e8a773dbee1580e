import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { AUTH, startStack } from '../helpers/stack.js';

// A NATS whose max_payload is smaller than the gateway's body limit, as a user's own server
// (1 MB by default) can be: a request the bus cannot carry is the client's 413, not a 5xx.
const dir = mkdtempSync(join(tmpdir(), 'agentbus-natsconf-'));
const conf = join(dir, 'small.conf');
writeFileSync(conf, 'max_payload: 4KB\njetstream {}\n');
const stack = await startStack({ natsConfigFile: conf, env: { BODY_LIMIT_BYTES: '65536' } });
t.teardown(async () => {
  await stack.close();
  rmSync(dir, { recursive: true, force: true });
});

t.test('an envelope over the NATS max_payload → 413 request_too_large, nothing sent or stored', async (t) => {
  const res = await fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({ model: 'testing', messages: [{ role: 'user', content: 'x'.repeat(8000) }] }),
  });
  t.equal(res.status, 413);
  const body: any = await res.json();
  t.equal(body.error.code, 'request_too_large');
  t.match(body.error.message, /larger than the message bus accepts/);
  t.equal(stack.ollama.requests.length, 0);
  t.equal((await stack.db.selectFrom('turns').selectAll().execute()).length, 0);
});

t.test('a request that fits still works on the same bus', async (t) => {
  const res = await fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({ model: 'testing', messages: [{ role: 'user', content: 'short' }] }),
  });
  t.equal(res.status, 200);
});

t.test('a reply frame the bus refuses is reported as what it is, not as a gap in the frames', async (t) => {
  // A 4 KB bus cannot carry the worker's 64 KiB deltas. The failed frame must not use up a
  // sequence number, so the error frame that follows arrives in order with the real cause.
  stack.ollama.behave({ tokens: ['x'.repeat(50_000)] });
  const res = await fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify({ model: 'testing', messages: [{ role: 'user', content: 'long' }] }),
  });
  t.equal(res.status, 500);
  t.match(await res.json(), {
    error: { code: 'internal_error', message: /could not publish the delta frame: .*max_payload/ },
  });
  t.equal(
    (await stack.db.selectFrom('turns').selectAll().execute()).length,
    1,
    'only the earlier short answer is stored',
  );
});
