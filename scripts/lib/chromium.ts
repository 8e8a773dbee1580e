import { readEnv, type EnvReader } from '../../common/env.js';
import { ensureDebianTool } from './install-debian-package.js';
import { isExecutable } from './executable.js';

/** CHROMIUM_PATH, as `npm test` reads it. */
export const readChromiumPath = (read: EnvReader): string =>
  read.string('CHROMIUM_PATH', '/usr/bin/chromium', {
    doc: "the Chromium the playground's browser test drives (installed from Debian when missing, as root)",
  });

/** Where the browser test looks for Chromium: CHROMIUM_PATH, else Debian's package. */
export function chromiumPath(): string {
  return readChromiumPath(readEnv());
}

export const HOW_TO_INSTALL_CHROMIUM =
  "The playground's browser test drives headless Chromium: " +
  'install it ("sudo apt-get install chromium" on Debian/Ubuntu) or set CHROMIUM_PATH to a Chromium binary.';

const findChromium = (): string | undefined => (isExecutable(chromiumPath()) ? chromiumPath() : undefined);

/** Chromium for the browser test, installing Debian's package when missing and we can. */
export function ensureChromium(say: (line: string) => void): string {
  return ensureDebianTool(
    { name: 'chromium', debianPackage: 'chromium', find: findChromium, howToInstall: HOW_TO_INSTALL_CHROMIUM },
    say,
  );
}
