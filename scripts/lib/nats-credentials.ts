import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import type { BusRole } from '../../common/nats-client.js';
import { makeDirs } from '../../common/make-dirs.js';
import { credentialsDir, passwordFileOf } from '../../common/recorded-nats.js';

export { credentialsDir, passwordFileOf } from '../../common/recorded-nats.js';

/** The bus users of the bundled nats.conf, one per role (admin: only `npm run bus:setup` uses it). */
export const BUS_ROLES: readonly BusRole[] = ['gateway', 'worker', 'replay', 'admin'];

/** The environment variable nats.conf reads a role's password from (`$AGENTBUS_NATS_WORKER_PASSWORD`). */
export function serverPasswordVariable(role: BusRole): string {
  return `AGENTBUS_NATS_${role.toUpperCase()}_PASSWORD`;
}

/** A role's credentials as files: the user name and where its password is. */
export interface RoleCredentials {
  user: BusRole;
  passwordFile: string;
}

/**
 * The bus passwords of the bundled nats-server: read from `DATA_DIR/nats-credentials/`, and any
 * missing one generated (32 random bytes, base64url, after `pw`) and written with mode 0600 in a 0700
 * directory, so later starts reuse them and workers on other hosts can be given the file.
 * Returns the server's environment (`AGENTBUS_NATS_*_PASSWORD`) and each role's files.
 */
export function ensureBusCredentials(dataDir: string): {
  serverEnv: Record<string, string>;
  roles: Record<BusRole, RoleCredentials>;
} {
  const dir = credentialsDir(dataDir);
  makeDirs(dir, 0o700);
  // mkdir's mode is not applied to a directory that already exists, nor past the umask.
  chmodSync(dir, 0o700);
  const serverEnv: Record<string, string> = {};
  const roles = {} as Record<BusRole, RoleCredentials>;
  for (const role of BUS_ROLES) {
    const file = passwordFileOf(dataDir, role);
    let password = readPassword(file);
    if (password === undefined) {
      // Starts with letters: nats-server parses a $VARIABLE's value like a config value, and one
      // beginning with a digit as a number ("Expected a digit"), which fails the server's start.
      password = `pw${randomBytes(32).toString('base64url')}`;
      // flag wx: two starts racing never overwrite each other's password.
      try {
        writeFileSync(file, `${password}\n`, { mode: 0o600, flag: 'wx' });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        password = readPassword(file)!;
      }
    } else if ((statSync(file).mode & 0o077) !== 0) {
      chmodSync(file, 0o600);
    }
    serverEnv[serverPasswordVariable(role)] = password;
    roles[role] = { user: role, passwordFile: file };
  }
  return { serverEnv, roles };
}

/** The password in `file` without its line break; undefined when the file is missing or empty. */
function readPassword(file: string): string | undefined {
  try {
    const password = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    return password === '' ? undefined : password;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`cannot read the bus password file ${file}: ${(err as Error).message}`, { cause: err });
  }
}
