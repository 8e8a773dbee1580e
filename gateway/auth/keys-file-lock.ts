import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { makeDirs } from '../../common/make-dirs.js';

/** How long `npm run keys` waits for another run holding the keys file's lock. */
export const KEYS_LOCK_WAIT_MS = 5000;
const RETRY_MS = 25;

/** The lock file next to the keys file (the gateway's watcher reacts only to the keys file's own name). */
export const lockFileOf = (keysFile: string) => `${resolve(keysFile)}.lock`;

const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/**
 * Runs `update` (read the keys file, change it, write it) while holding an exclusive lock file,
 * created with O_EXCL so only one process can hold it: two `npm run keys` at once would
 * otherwise both read the same file and the second write would drop the first one's key. Waits
 * up to `waitMs` (bounded, retrying every 25 ms) for another holder, then fails naming the lock
 * file: a run killed mid-update leaves it behind, and only a person can tell it is stale.
 */
export function withKeysFileLock<T>(keysFile: string, update: () => T, waitMs: number = KEYS_LOCK_WAIT_MS): T {
  const lock = lockFileOf(keysFile);
  makeDirs(dirname(lock));
  const deadline = Date.now() + waitMs;
  let fd: number | undefined;
  while (fd === undefined) {
    try {
      fd = openSync(lock, 'wx', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (Date.now() >= deadline) {
        throw new Error(
          `the keys file is locked by another "npm run keys" (lock file ${lock}, waited ${waitMs} ms); ` +
            'if none is running, a run was killed mid-update: delete the lock file and try again',
          { cause: err },
        );
      }
      sleep(RETRY_MS);
    }
  }
  try {
    try {
      writeSync(fd, `${process.pid}\n`); // who holds it, for a person looking at a stale lock
    } finally {
      closeSync(fd);
    }
    return update();
  } finally {
    rmSync(lock, { force: true });
  }
}
