import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { chromiumPath, HOW_TO_INSTALL_CHROMIUM } from '../../scripts/lib/chromium.js';

/** What a test can hand its browser's closing to (tap's `t`). */
interface Teardown {
  teardown(fn: () => unknown): void;
}

/**
 * Debian's headless Chromium (CHROMIUM_PATH), driven by playwright-core, closed at `t`'s teardown;
 * `args` add to the flags every browser test needs (a fake microphone, autoplay). A missing
 * Chromium fails the test with how to install it, rather than skipping it.
 */
export async function launchChromium(t: Teardown, args: readonly string[] = []): Promise<Browser> {
  if (!existsSync(chromiumPath())) throw new Error(`no Chromium at ${chromiumPath()}. ${HOW_TO_INSTALL_CHROMIUM}`);
  const browser = await chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      // No network beyond loopback here: without these Chromium keeps trying Google's hosts.
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...args,
    ],
    timeout: 30_000,
  });
  t.teardown(() => browser.close());
  return browser;
}
