import { ensureDebianTool } from './install-debian-package.js';
import { readEnv } from '../../common/env.js';
import { findNatsServer, readNatsServerBin } from './nats-server.js';

const HOW_TO_INSTALL =
  'Install it (Debian/Ubuntu: "sudo apt-get install nats-server"; other systems: see https://docs.nats.io), ' +
  'or set NATS_URL to a NATS server you already run.';

/**
 * The nats-server binary, installing Debian's `nats-server` package first when it is missing
 * and we can (root, apt-get present). Otherwise throws saying what to install.
 */
export function ensureNatsServer(say: (line: string) => void): string {
  const explicit = readNatsServerBin(readEnv());
  if (!findNatsServer() && explicit)
    throw new Error(`NATS_SERVER_BIN=${explicit} is not an executable file. ${HOW_TO_INSTALL}`);
  return ensureDebianTool(
    { name: 'nats-server', debianPackage: 'nats-server', find: findNatsServer, howToInstall: HOW_TO_INSTALL },
    say,
  );
}
