import { ensureDebianTool } from './install-debian-package.js';
import { isExecutable } from './executable.js';

// Debian's `pgbouncer` package puts the program in /usr/sbin, which a non-root PATH may lack.
const PGBOUNCER = '/usr/sbin/pgbouncer';

/** The pgbouncer binary from Debian's package, or undefined. */
export function findPgbouncer(): string | undefined {
  return isExecutable(PGBOUNCER) ? PGBOUNCER : undefined;
}

/**
 * pgbouncer, installing Debian's package first when it is missing and we can (root): the test of
 * memory behind a pooler in transaction mode (`DATABASE_PREPARED_STATEMENTS`) runs a real one.
 */
export function ensurePgbouncer(say: (line: string) => void): string {
  return ensureDebianTool(
    {
      name: 'pgbouncer',
      debianPackage: 'pgbouncer',
      find: findPgbouncer,
      howToInstall:
        'Install it (Debian/Ubuntu: "sudo apt-get install pgbouncer"); only the test of memory behind a ' +
        'connection pooler needs it.',
    },
    say,
  );
}
