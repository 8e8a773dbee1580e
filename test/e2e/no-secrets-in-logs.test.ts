import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { createKey, runKeysCli } from '../helpers/keys-cli.js';
import { startStack } from '../helpers/stack.js';
import { openLiveClient } from '../helpers/ws-client.js';

// Logs never hold API keys, Authorization headers or secrets the redaction patterns match: this
// runs requests that carry all three (right and wrong keys, API_KEYS and keys-file ones, over HTTP
// and WebSocket, a revocation) and greps every log the run produced — the trace log files and the
// gateway's and worker's pino lines.
const KEY = 'team-key-7f3a9c1e5b2d4f60';
const WRONG_KEY = 'wrong-key-0a1b2c3d4e5f6a7b';
const SECRET = `sk-proj-${'Q7w'.repeat(10)}`;
const PASSWORD = 'password: hunter2-very-secret';

// A key of the keys file, made by the real CLI (the gateway only ever sees its hash in the file).
const dir = mkdtempSync(join(tmpdir(), 'agentbus-no-secrets-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const keysFile = join(dir, 'keys.json');
const FILE_KEY = await createKey(keysFile, ['--name', 'file-key', '--tier', 'unlimited']);

const stack = await startStack({ env: { API_KEYS: KEY, KEYS_FILE: keysFile } });
t.teardown(() => stack.close());

t.test('requests carrying keys and secrets', async (t) => {
  const headers = (key: string) => ({ authorization: `Bearer ${key}`, 'content-type': 'application/json' });
  const body = (stream: boolean) =>
    JSON.stringify({
      model: 'code_review',
      stream,
      messages: [{ role: 'user', content: `my key is ${SECRET} and ${PASSWORD}` }],
    });
  for (const stream of [false, true]) {
    const res = await fetch(`${stack.baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: headers(KEY),
      body: body(stream),
    });
    t.equal(res.status, 200);
    await res.text();
  }
  const refused = await fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: headers(WRONG_KEY),
    body: body(false),
  });
  t.equal(refused.status, 401);
  // A key put in the URL by mistake: the access line keeps the URL, not the key.
  for (const param of ['api_key', 'key', 'token'])
    await (await fetch(`${stack.baseUrl}/v1/models?${param}=${WRONG_KEY}&limit=2`, { headers: headers(KEY) })).text();
  t.ok(
    stack.logs.lines.some((line) => /\/v1\/models\?token=\[redacted\]&limit=2/.test(JSON.stringify(line))),
    'the URL is logged, its secret censored',
  );
  const client = await openLiveClient(stack.baseUrl, { authFrameKey: KEY });
  await client.next((frame) => frame.type === 'ready');
  client.send({ type: 'chat', id: 's1', agent: 'testing', messages: [{ role: 'user', content: `again ${SECRET}` }] });
  t.equal((await client.finish('s1')).terminal.type, 'done');
  client.close();
});

t.test('a keys-file key: over HTTP and WebSocket, then revoked while its socket is open', async (t) => {
  const res = await fetch(`${stack.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${FILE_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'testing', stream: true, messages: [{ role: 'user', content: 'hello' }] }),
  });
  t.equal(res.status, 200);
  await res.text();
  const client = await openLiveClient(stack.baseUrl, { authFrameKey: FILE_KEY });
  await client.next((frame) => frame.type === 'ready');
  client.send({ type: 'chat', id: 'f1', agent: 'testing', messages: [{ role: 'user', content: 'hi' }] });
  t.equal((await client.finish('f1')).terminal.type, 'done');
  t.equal((await runKeysCli(keysFile, ['revoke', 'file-key'])).code, 0);
  t.match(await client.closed, { code: 4401 }, 'the revocation reached the socket (and its log line)');
  const refused = await fetch(`${stack.baseUrl}/v1/models`, { headers: { authorization: `Bearer ${FILE_KEY}` } });
  t.equal(refused.status, 401);
});

t.test('no log holds them', async (t) => {
  const files = readdirSync(stack.config.logDir).map((name) => join(stack.config.logDir, name));
  t.ok(files.length > 0, 'trace logs were written');
  const everything = [...files.map((file) => readFileSync(file, 'utf8')), JSON.stringify(stack.logs.lines)].join('\n');
  t.ok(stack.logs.lines.length > 5, `pino lines were captured (${stack.logs.lines.length})`);
  for (const needle of [KEY, WRONG_KEY, FILE_KEY, FILE_KEY.slice(3), SECRET, 'hunter2-very-secret', 'Bearer '])
    t.notOk(everything.includes(needle), `no "${needle.slice(0, 12)}…" in any log`);
  t.match(everything, /\[REDACTED:openai_key\]/, 'the secret shows as redacted');
});
