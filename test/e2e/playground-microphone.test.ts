/// <reference lib="dom" />
// (DOM types for the functions that run inside the page.)
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import t from 'tap';
import { launchChromium } from '../helpers/chromium.js';
import { goForwardWav, HOW_TO_INSTALL_TESTDATA, TESTDATA_DIR } from '../helpers/pocketsphinx-testdata.js';
import { startStack } from '../helpers/stack.js';

// The playground's microphone button in a real browser: Chromium's fake capture device plays
// Debian's recording of "go forward ten meters" as the microphone; the page records it with
// MediaRecorder (WebM/Opus), posts it to /v1/audio/transcriptions, and the text lands in the box.
if (!existsSync(TESTDATA_DIR))
  throw new Error(`no pocketsphinx test data at ${TESTDATA_DIR}. ${HOW_TO_INSTALL_TESTDATA}`);
const dir = mkdtempSync(join(tmpdir(), 'agentbus-mic-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const microphone = join(dir, 'goforward.wav');
writeFileSync(microphone, goForwardWav());

const stack = await startStack({ workerAgents: ['voice_processor', 'code_review'] });
t.teardown(() => stack.close());
const browser = await launchChromium(t, [
  // The microphone: this WAV, played once, with the permission granted without asking.
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  `--use-file-for-fake-audio-capture=${microphone}%noloop`,
]);
const page: Page = await browser.newPage();
page.setDefaultTimeout(20_000);
const pageErrors: string[] = [];
page.on('pageerror', (err) => pageErrors.push(err.message));

t.test('the microphone button puts what was said into the message box', async (t) => {
  await page.goto(`${stack.baseUrl}/`);
  await page.locator('[data-testid="status"][data-state="connected"]').waitFor();
  const mic = page.getByTestId('mic-button');
  t.equal(await mic.getAttribute('data-state'), 'idle');
  const posted = page.waitForResponse((res) => res.url().endsWith('/v1/audio/transcriptions'));
  await mic.click();
  await page.locator('[data-testid="mic-button"][data-state="recording"]').waitFor();
  // The recording is 2.8 s long; a little more lets the whole of it in.
  await page.waitForTimeout(3_500);
  await mic.click();
  const res = await posted;
  t.equal(res.status(), 200);
  t.equal(res.request().headers()['authorization'], 'Bearer local-only', "the page's key");
  await page.locator('[data-testid="mic-button"][data-state="idle"]').waitFor();
  const text = await page.getByTestId('message-input').inputValue();
  t.comment(`heard through the browser: "${text}"`);
  t.match(text, /go forward ten meters/);
  t.ok(await page.getByTestId('send-button').isEnabled(), 'ready to send');
  const line = stack.logs.lines.findLast((l) => l['msg'] === 'transcribing');
  t.equal(line?.['format'], 'webm', 'MediaRecorder sent WebM, converted by ffmpeg on the worker');
  t.same(pageErrors, []);
});
