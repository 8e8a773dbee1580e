import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDebianTool } from './install-debian-package.js';
import { isExecutable } from './executable.js';

// Debian's `postgresql` package puts the server programs (initdb, postgres, pg_ctl) under
// /usr/lib/postgresql/<major>/bin, off PATH. The tests and the bench start a PostgreSQL of their own
// from them (private-postgres.ts).
const DEBIAN_ROOT = '/usr/lib/postgresql';

/** The bin folder of the newest PostgreSQL installed from Debian's packages, or undefined. */
export function findPostgresBin(): string | undefined {
  if (!existsSync(DEBIAN_ROOT)) return undefined;
  return readdirSync(DEBIAN_ROOT)
    .filter((major) => /^\d+$/.test(major))
    .sort((a, b) => Number(b) - Number(a))
    .map((major) => join(DEBIAN_ROOT, major, 'bin'))
    .find((bin) => isExecutable(join(bin, 'initdb')) && isExecutable(join(bin, 'postgres')));
}

const HOW_TO_INSTALL =
  'Install it (Debian/Ubuntu: "sudo apt-get install postgresql"); only the tests of memory on PostgreSQL ' +
  'and `npm run bench -- --memory=postgres` need it.';

/** The PostgreSQL bin folder, installing Debian's `postgresql` package first when it is missing and we can (root). */
export function ensurePostgres(say: (line: string) => void): string {
  return ensureDebianTool(
    {
      name: 'PostgreSQL (initdb, postgres)',
      debianPackage: 'postgresql',
      find: findPostgresBin,
      howToInstall: HOW_TO_INSTALL,
    },
    say,
  );
}
