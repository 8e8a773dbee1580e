/// <reference lib="dom" />
// (DOM types for the functions that run inside the page.)
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, normalize } from 'node:path';
import t from 'tap';
import { launchChromium } from '../helpers/chromium.js';
import { startStack } from '../helpers/stack.js';

// A page on another origin uses the gateway as a browser app would: with the official openai
// package, unmodified, in headless Chromium, which enforces CORS (preflights, readable headers).

// The app's own origin: an empty page, and the openai package's ESM build (it has no bare imports).
const openaiDir = join(import.meta.dirname, '../../node_modules/openai');
const site = createServer((req, res) => {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  if (path === '/') {
    res
      .writeHead(200, { 'content-type': 'text/html' })
      .end('<!doctype html><link rel=icon href="data:,"><title>app</title>');
    return;
  }
  const file = normalize(join(openaiDir, path.replace(/^\/openai\//, '')));
  if (!path.startsWith('/openai/') || !file.startsWith(openaiDir) || !existsSync(file)) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'content-type': 'text/javascript' }).end(readFileSync(file));
});
await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
t.teardown(() => new Promise((resolve) => site.close(resolve)));
const origin = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;

const stack = await startStack({ env: { CORS_ORIGINS: origin } });
t.teardown(() => stack.close());
const browser = await launchChromium(t);
const page = await browser.newPage();
page.setDefaultTimeout(20_000);
const consoleErrors: string[] = [];
page.on('console', (message) => {
  if (message.type() === 'error') consoleErrors.push(message.text());
});
await page.goto(`${origin}/`);

t.test('the openai package streams a chat answer and reads its headers', async (t) => {
  stack.ollama.behave({ tokens: ['Hello', ' from', ' afar'] });
  const got = await page.evaluate(async (baseURL) => {
    const sdk = '/openai/index.mjs';
    const { default: OpenAI } = await import(sdk);
    const client = new OpenAI({ baseURL, apiKey: 'local-only', maxRetries: 0, dangerouslyAllowBrowser: true });
    const { data: stream, response } = await client.chat.completions
      .create({ model: 'testing', messages: [{ role: 'user', content: 'hi' }], stream: true })
      .withResponse();
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
    return { text, requestId: response.headers.get('x-request-id'), session: response.headers.get('x-session-id') };
  }, `${stack.baseUrl}/v1`);
  t.equal(got.text, 'Hello from afar');
  t.match(got.requestId, /^chatcmpl-/, 'the page may read X-Request-ID');
  t.match(got.session, /^conv_/);
});

t.test('the openai package streams a response, then deletes it (a DELETE preflight)', async (t) => {
  stack.ollama.behave({ tokens: ['Stored'] });
  const got = await page.evaluate(async (baseURL) => {
    const sdk = '/openai/index.mjs';
    const { default: OpenAI } = await import(sdk);
    const client = new OpenAI({ baseURL, apiKey: 'local-only', maxRetries: 0, dangerouslyAllowBrowser: true });
    const stream = await client.responses.create({ model: 'testing', input: 'hi', stream: true, store: true });
    let id = '';
    let text = '';
    for await (const event of stream) {
      if (event.type === 'response.output_text.delta') text += event.delta;
      if (event.type === 'response.completed') id = event.response.id;
    }
    const deleted = await client.responses.delete(id).then(
      () => 'deleted',
      (err: Error) => err.message,
    );
    return { text, deleted };
  }, `${stack.baseUrl}/v1`);
  t.same(got, { text: 'Stored', deleted: 'deleted' });
});

t.test('plain fetch reads the legacy completions SSE and Ollama NDJSON streams', async (t) => {
  const read = (path: string, body: object) =>
    page.evaluate(
      async ({ url, body }) => {
        const res = await fetch(url, {
          method: 'POST',
          headers: { authorization: 'Bearer local-only', 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        return { status: res.status, text: await res.text() };
      },
      { url: `${stack.baseUrl}${path}`, body },
    );
  stack.ollama.behave({ tokens: ['Once', ' upon'] });
  const sse = await read('/v1/completions', { model: 'testing', prompt: 'Tell', stream: true });
  t.equal(sse.status, 200);
  t.ok(sse.text.endsWith('data: [DONE]\n\n'));
  stack.ollama.behave({ tokens: ['Once', ' upon'] });
  const ndjson = await read('/api/generate', { model: 'testing', prompt: 'Tell' });
  t.equal(ndjson.status, 200);
  t.match(ndjson.text, /"done":true/);
});

t.test('no CORS error in the console', async (t) => {
  t.same(consoleErrors, []);
});
