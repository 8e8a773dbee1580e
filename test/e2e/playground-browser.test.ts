/// <reference lib="dom" />
// (DOM types for the functions that run inside the page.)
import type { Page } from 'playwright-core';
import t from 'tap';
import { launchChromium } from '../helpers/chromium.js';
import { startStack } from '../helpers/stack.js';
import { waitUntil } from '../helpers/wait.js';

// The playground in a real browser (Debian's headless Chromium driven by playwright-core):
// it loads, streams an answer, continues the conversation from memory, and stops a generation.
// SCREENSHOT_TO=docs/playground.png keeps a picture of the page after the conversation.

const stack = await startStack();
t.teardown(() => stack.close());
const browser = await launchChromium(t, [
  // No sound card in CI: the speak button's <audio> still decodes and plays, into nothing.
  '--autoplay-policy=no-user-gesture-required',
]);

const page: Page = await browser.newPage({ viewport: { width: 1100, height: 760 } });
page.setDefaultTimeout(10_000);
const pageErrors: string[] = [];
const foreignRequests: string[] = [];
page.on('pageerror', (err) => pageErrors.push(err.message));
page.on('console', (message) => {
  if (message.type() === 'error') pageErrors.push(message.text());
});
page.on('request', (request) => {
  // blob: URLs of the gateway's origin are bytes already fetched from it (the speak button's audio).
  const local = [stack.baseUrl, `blob:${stack.baseUrl}`, 'data:'];
  if (!local.some((prefix) => request.url().startsWith(prefix))) foreignRequests.push(request.url());
});

const lastAnswer = () => page.getByTestId('assistant-message').last();
// Waits until the newest answer's text includes `text` (it streams in).
const lastAnswerShows = (text: string) =>
  page.waitForFunction((wanted) => {
    const nodes = document.querySelectorAll('[data-testid="assistant-message"]');
    return (nodes[nodes.length - 1]?.textContent ?? '').includes(wanted);
  }, text);
async function send(text: string) {
  await page.getByTestId('message-input').fill(text);
  await page.getByTestId('send-button').click();
}

t.test('the page loads from the gateway, connects with the dev key and lists the agents', async (t) => {
  const res = await page.goto(`${stack.baseUrl}/`);
  t.equal(res?.status(), 200);
  await page.locator('[data-testid="status"][data-state="connected"]').waitFor();
  const agents = await page
    .getByTestId('agent-select')
    .locator('option')
    .evaluateAll((options) => options.map((o) => (o as HTMLOptionElement).value));
  t.same([...agents].sort(), [...stack.catalog.names, 'auto'].sort(), 'the agents, and auto (the router)');
  await page.getByTestId('agent-select').selectOption('code_review');
});

// The first answer, with a fenced code block the page renders as code.
const tokens = [
  'Streaming',
  ' answers',
  ' arrive',
  ' one',
  ' token',
  ' at',
  ' a',
  ' time',
  ':\n\n```js\n',
  'for await (const chunk of stream)',
  ' render(chunk);\n',
  '```\n\n',
  'Each',
  ' delta',
  ' shows',
  ' at',
  ' once.',
];
t.test('a message streams in token by token, then shows its meta', async (t) => {
  stack.ollama.behave({ tokens, tokenDelayMs: 120 });
  await send('Explain streaming');
  await page.getByTestId('user-message').last().waitFor();
  const answer = lastAnswer();
  await page.locator('[data-testid="assistant-message"][data-state="streaming"]').waitFor();
  // Part of the answer is on screen while the rest is still being generated.
  await page.waitForFunction(() => {
    const nodes = document.querySelectorAll('[data-testid="assistant-message"]');
    const last = nodes[nodes.length - 1] as HTMLElement | undefined;
    return last?.dataset['state'] === 'streaming' && (last.textContent ?? '').includes('Streaming');
  });
  t.pass('partial text was visible while streaming');
  await page.locator('[data-testid="assistant-message"][data-state="done"]').last().waitFor();
  t.match(await answer.textContent(), 'Streaming answers arrive one token at a time');
  t.match(await answer.textContent(), 'Each delta shows at once.');
  t.equal(
    (await answer.locator('pre code').textContent())?.trim(),
    'for await (const chunk of stream) render(chunk);',
    'the fenced block is rendered as code',
  );
  const meta = await answer.getByTestId('meta').textContent();
  t.match(meta, /code_review/);
  t.match(meta, /\d+\.\d\ds/, 'processing time');
  t.match(await page.getByTestId('conversation-id').textContent(), /conv_/);
});

t.test('the next message continues the same conversation (memory on the server)', async (t) => {
  const conversation = await page.getByTestId('conversation-id').textContent();
  stack.ollama.behave({ tokens: ['Yes,', ' I', ' remember.'], tokenDelayMs: 20 });
  const answered = page.locator('[data-testid="assistant-message"][data-state="done"]');
  const before = await answered.count();
  await send('Do you remember what I asked?');
  await page.waitForFunction(
    (n) => document.querySelectorAll('[data-testid="assistant-message"][data-state="done"]').length > n,
    before,
  );
  t.match(await lastAnswer().textContent(), 'Yes, I remember.');
  t.equal(await page.getByTestId('conversation-id').textContent(), conversation);
  const sent = stack.ollama.requests.at(-1)!.messages.map((m) => m.content);
  t.same(
    sent.slice(-3),
    ['Explain streaming', tokens.join(''), 'Do you remember what I asked?'],
    'the model saw the earlier turn',
  );
  t.match(await lastAnswer().getByTestId('meta').textContent(), /memory/i);
  if (process.env['SCREENSHOT_TO']) await page.screenshot({ path: process.env['SCREENSHOT_TO'] });
});

t.test('Stop ends the generation at once and aborts the model call', async (t) => {
  stack.ollama.behave({ tokens: Array.from({ length: 200 }, (_, i) => `word${i} `), tokenDelayMs: 50 });
  await send('Write something very long');
  await lastAnswerShows('word1 ');
  const stop = page.getByTestId('stop-button');
  await stop.click();
  // The answer takes 10 s: "stopped" (not "done") and an aborted backend request say Stop
  // ended it; the bounds are generous failures, not timing claims.
  await page.locator('[data-testid="assistant-message"][data-state="stopped"]').last().waitFor({ timeout: 8000 });
  const aborted = await waitUntil(() => stack.ollama.requests.at(-1)!.aborted, 8000);
  t.ok(aborted, 'the backend request was aborted, not finished');
  t.notOk(await stop.isVisible(), 'Stop is gone once stopped');
  const text = (await lastAnswer().textContent()) ?? '';
  t.match(text, 'word1 ', 'the partial answer stays on screen');
  t.notMatch(text, 'word199', 'and it really stopped');
  // The page is usable again.
  stack.ollama.behave({ tokens: ['Back', ' again.'] });
  await send('Still there?');
  await page.waitForFunction(() => {
    const nodes = document.querySelectorAll('[data-testid="assistant-message"]');
    const last = nodes[nodes.length - 1] as HTMLElement | undefined;
    return last?.dataset['state'] === 'done' && (last.textContent ?? '').includes('Back again.');
  });
});

t.test('Esc stops a generation sent with the Send button, whose click took focus from the box', async (t) => {
  stack.ollama.behave({ tokens: Array.from({ length: 200 }, (_, i) => `word${i} `), tokenDelayMs: 50 });
  await send('Write something very long again');
  await lastAnswerShows('word1 ');
  t.notOk(await page.getByTestId('message-input').evaluate((box) => box === document.activeElement));
  await page.keyboard.press('Escape');
  // The answer takes 10 s; the earlier test's answer is "stopped" too, so this one is read by its place.
  await page.waitForFunction(
    () => {
      const nodes = document.querySelectorAll<HTMLElement>('[data-testid="assistant-message"]');
      return nodes[nodes.length - 1]?.dataset['state'] === 'stopped';
    },
    undefined,
    { timeout: 8000 },
  );
  t.notMatch((await lastAnswer().textContent()) ?? '', 'word199', 'it stopped');
});

t.test('"auto" lets the router choose, and the meta line says how', async (t) => {
  stack.ollama.behave({ tokens: ['FROM', ' node:20'] });
  await page.getByTestId('agent-select').selectOption('auto');
  await send('Write a Dockerfile for a Node app');
  await page.waitForFunction(() => {
    const nodes = document.querySelectorAll('[data-testid="assistant-message"]');
    const last = nodes[nodes.length - 1] as HTMLElement | undefined;
    return last?.dataset['state'] === 'done' && (last.textContent ?? '').includes('FROM node:20');
  });
  const meta = await lastAnswer().getByTestId('meta').textContent();
  t.match(meta, /deployment/, 'the deployment agent answered');
  t.match(meta, /routed by rule deployment/);
});

t.test("a reasoning model's thinking shows collapsed above the answer, never in it", async (t) => {
  stack.ollama.behave({ tokens: ['<think>Let me count.</think>', 'Four.'] });
  const answered = page.locator('[data-testid="assistant-message"][data-state="done"]');
  const before = await answered.count();
  await send('What is 2+2?');
  await page.waitForFunction(
    (n) => document.querySelectorAll('[data-testid="assistant-message"][data-state="done"]').length > n,
    before,
  );
  const thinking = lastAnswer().getByTestId('thinking');
  t.ok(await thinking.isVisible(), 'the Thinking block is there');
  t.equal(await thinking.evaluate((node) => (node as HTMLDetailsElement).open), false, 'collapsed');
  t.match(await thinking.textContent(), /Let me count\./);
  t.equal((await lastAnswer().locator('.content').textContent())?.trim(), 'Four.');
});

t.test('Speak reads an answer aloud: speech fetched from the gateway, played in an <audio>', async (t) => {
  const speechRequests: string[] = [];
  const onRequest = (request: { url(): string; method(): string }) => {
    if (request.url().endsWith('/v1/audio/speech')) speechRequests.push(request.method());
  };
  page.on('request', onRequest);
  t.teardown(() => page.off('request', onRequest));
  const answer = lastAnswer();
  const speak = answer.getByTestId('speak-button');
  t.ok(await speak.isVisible(), 'every finished answer has a Speak button');
  await speak.click();
  const audio = answer.getByTestId('speak-audio');
  await audio.waitFor({ state: 'attached' });
  t.match(await audio.getAttribute('src'), /^blob:/, 'the audio plays from the fetched bytes');
  await page.waitForFunction(() => {
    const nodes = document.querySelectorAll('[data-testid="speak-button"]');
    const state = (nodes[nodes.length - 1] as HTMLElement | undefined)?.dataset['state'];
    return state === 'playing' || state === 'ended';
  });
  const played = await audio.evaluate((node) => ({ duration: (node as HTMLAudioElement).duration }));
  t.ok(played.duration > 0.2, `a duration (${played.duration.toFixed(2)} s)`);
  await page.waitForFunction(() => {
    const media = document.querySelector<HTMLAudioElement>('[data-testid="speak-audio"]');
    return media !== null && (media.currentTime > 0 || media.ended);
  });
  t.pass('and it played');
  t.same(speechRequests, ['POST'], 'one POST /v1/audio/speech');
  const line = stack.logs.lines.findLast((l) => l['msg'] === 'speaking');
  t.ok(line, 'a worker ran espeak-ng');
});

t.test('a Speak whose speech model lookup failed asks again on the next click', async (t) => {
  // A page of its own: the page remembers a key's speech model, and this one must not know it yet.
  const other = await browser.newPage();
  t.teardown(() => other.close());
  await other.goto(`${stack.baseUrl}/`);
  await other.locator('[data-testid="status"][data-state="connected"]').waitFor();
  stack.ollama.behave({ tokens: ['Say', ' this.'] });
  await other.getByTestId('message-input').fill('Something to say');
  await other.getByTestId('send-button').click();
  const speak = other.getByTestId('speak-button').last();
  await speak.waitFor();
  // The lookup fails once, as while the gateway restarts.
  let fail = true;
  await other.route('**/v1/models', (route) => (fail ? route.abort() : route.continue()));
  await speak.click();
  await other.locator('[data-testid="speak-button"][data-state="error"]').waitFor();
  fail = false;
  await speak.click();
  await other.waitForFunction(() => {
    const state = document.querySelector<HTMLElement>('[data-testid="speak-button"]')?.dataset['state'];
    return state === 'playing' || state === 'ended';
  });
  t.pass('the second click spoke');
});

t.test('a message over BODY_LIMIT_BYTES says it is too large, not that the connection was lost', async (t) => {
  // The gateway closes the socket with 1009 for such a frame: the page must name the cause.
  await send('y'.repeat(1_100_000));
  const notice = lastAnswer().locator('.notice-error');
  await notice.waitFor();
  t.match(await notice.innerText(), /too large/);
  t.equal(await notice.locator('.code').innerText(), 'request_too_large');
  await page.locator('[data-testid="status"][data-state="connected"]').waitFor({ timeout: 15_000 });
  t.pass('and the page reconnects');
});

t.test('no page errors, and nothing fetched from anywhere but the gateway', async (t) => {
  t.same(pageErrors, []);
  t.same(foreignRequests, []);
});
